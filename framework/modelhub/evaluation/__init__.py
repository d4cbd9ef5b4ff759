"""Accuracy of the served pipeline on a labelled image folder (``modelhub evaluate``).

:mod:`.classes` maps ImageNet ids to class indices, :mod:`.dataset` finds the images and their labels,
:mod:`.runner` classifies them (in-process through the data plane, or through a server) with a resumable
cache, :mod:`.metrics` computes the figures and :mod:`.report` writes ``results.json`` and ``index.html``.
"""
