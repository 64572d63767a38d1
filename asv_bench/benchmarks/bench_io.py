"""Loaders: one layer read from each format (layer-first files read only that layer)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .common import core, layers

load = core("io").load

FORMATS = ["npy", "npz", "safetensors"]


class Loaders:
    params = [FORMATS]
    param_names = ["format"]

    def setup_cache(self):
        folder = tempfile.mkdtemp(prefix="cascade-asv-")
        data = layers(8, 4096, 768).astype(np.float16)
        np.save(os.path.join(folder, "acts.npy"), data)
        np.savez(os.path.join(folder, "acts.npz"), hidden_states=data)
        try:
            from safetensors.numpy import save_file

            save_file({"hidden_states": data}, os.path.join(folder, "acts.safetensors"))
        except ImportError:
            pass
        return folder

    def setup(self, folder, fmt):
        self.path = os.path.join(folder, f"acts.{fmt}")
        if not os.path.exists(self.path):
            raise NotImplementedError(f"no writer for {fmt} here")

    def time_read_one_layer(self, folder, fmt):
        load(self.path).layers[5]

    def time_describe(self, folder, fmt):
        load(self.path)
