"""How ``modelhub predict`` writes its answers: an aligned table, JSON Lines or CSV, one image at a time."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

FORMATS = ("table", "jsonl", "csv")
CSV_COLUMNS = ("file", "output", "rank", "index", "label", "probability", "error")


class Writer:
    """Writes each image's answer (or error) as soon as it is known, in the order of the inputs."""

    def __init__(self, stream: TextIO, fmt: str, names: list[str]) -> None:
        self.stream, self.fmt = stream, fmt
        self.width = min(max([len("file"), *(len(name) for name in names)]), 60)
        self.csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(CSV_COLUMNS)
        elif fmt == "table":
            self._line(f"{'file':<{self.width}}  rank  probability  index  label")

    def _line(self, text: str) -> None:
        self.stream.write(text.rstrip() + "\n")

    def result(self, name: str, response: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self._line(json.dumps({"file": name, **response}))
            return
        shown = name
        for output in response["output"]:
            if output["type"] != "label_list":
                self._other(name, output)
                continue
            for rank, entry in enumerate(output["prediction"], 1):
                index = entry.get("index", rank - 1)
                if self.csv is not None:
                    self.csv.writerow(
                        (name, output["name"], rank, index, entry["label"], f"{entry['probability']:.6f}", "")
                    )
                else:
                    self._line(
                        f"{shown:<{self.width}}  {rank:>4}  {entry['probability'] * 100:10.2f}%  "
                        f"{index:>5}  {entry['label']}"
                    )
                    shown = ""

    def _other(self, name: str, output: dict[str, Any]) -> None:
        value = json.dumps(output["prediction"])
        if self.csv is not None:
            self.csv.writerow((name, output["name"], "", "", value, "", ""))
        else:
            self._line(f"{name:<{self.width}}  {output['name']}: {value}")

    def error(self, name: str, message: str, status: int) -> None:
        if self.fmt == "jsonl":
            self._line(json.dumps({"file": name, "error": message, "status": status}))
        elif self.csv is not None:
            self.csv.writerow((name, "", "", "", "", "", message))
        else:
            self._line(f"{name:<{self.width}}  error: {message}")
