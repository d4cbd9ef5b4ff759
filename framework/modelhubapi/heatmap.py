"""An explanation as a PNG: the model's input crop with each patch tinted by its importance."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from modelhub.explain import Explanation

MAX_ALPHA = 0.7  # the most important patch: 70 % colour, 30 % photo


def heat_colours(weights: np.ndarray) -> np.ndarray:
    """Weights in [0, 1] as RGB from yellow (0) to red (1), float ``[..., 3]``."""
    red = np.full_like(weights, 255.0)
    green = 220.0 * (1.0 - weights)
    blue = np.zeros_like(weights)
    return np.stack([red, green, blue], axis=-1)


def overlay(explanation: Explanation) -> Image.Image:
    """The crop with every patch whose occlusion lowers the class probability tinted (stronger: larger drop).

    Weights are the drops divided by the largest one; patches whose occlusion raises the
    probability (negative drops) are left as they are.
    """
    crop = np.asarray(explanation.crop.convert("RGB"), dtype=np.float64)
    drops = explanation.drops
    largest = float(drops.max())
    weights = np.clip(drops / largest, 0.0, 1.0) if largest > 0 else np.zeros_like(drops)
    widths = np.diff(explanation.edges_x)
    heights = np.diff(explanation.edges_y)
    per_pixel = np.repeat(np.repeat(weights, heights, axis=0), widths, axis=1)  # [H, W]
    if per_pixel.shape != crop.shape[:2]:  # the crop and the tensor differ in size: scale the map
        scaled = Image.fromarray((per_pixel * 255).astype(np.uint8)).resize(
            (crop.shape[1], crop.shape[0]), Image.Resampling.NEAREST
        )
        per_pixel = np.asarray(scaled, dtype=np.float64) / 255
    alpha = (MAX_ALPHA * per_pixel)[..., np.newaxis]
    blended = crop * (1.0 - alpha) + heat_colours(per_pixel) * alpha
    return Image.fromarray(np.clip(blended.round(), 0, 255).astype(np.uint8), "RGB")


def png_bytes(explanation: Explanation) -> bytes:
    buffer = io.BytesIO()
    overlay(explanation).save(buffer, "PNG")
    return buffer.getvalue()
