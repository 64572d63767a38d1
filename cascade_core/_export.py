"""Export activations of a Hugging Face model for offline analysis (``cascade-core export-hf``).

Needs the ``[export]`` extra (PyTorch, transformers, safetensors). Loads a
model directory offline, runs the given texts as one padded batch, and saves
to one ``.safetensors`` file (the schema ``analyze`` reads by default):

=====================  ======================  ============================================
tensor                 layout                  what
=====================  ======================  ============================================
``hidden_states``      ``(L+1, B, T, d)``      embeddings, then the output of every layer
``q``, ``k``, ``v``    ``(L, B, H, T, dh)``    with ``--qkv``: every layer's attention
                                               projections, from forward hooks (before
                                               rotary embeddings; ``k`` and ``v`` have the
                                               model's key/value heads, fewer under GQA)
``lengths``            ``(B,)``                valid tokens per text (right padding only)
``attention_mask``     ``(B, T)``              valid tokens (always written)
``input_ids``          ``(B, T)``              the token ids
=====================  ======================  ============================================

Metadata (string values, JSON where structured): ``schema``
(``cascade-core/activations/1``), ``model``, ``model_type``, ``layers``
(the layer order), ``layouts`` (per tensor), ``heads``, ``kv_heads``,
``tokenizer`` (its class, name and how ``tokens`` were decoded), ``tokens``
(each text's token strings, a JSON list per text of ``T`` strings, padding
included, position ``t`` holding ``tokenizer.decode([input_ids[b, t]])``),
``texts`` (file names and SHA-256 of each text), ``max_tokens``, ``dtype``,
``library``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ._errors import CascadeInputError
from ._io import write_atomic
from ._readers import check_safetensors

__all__ = ["SCHEMA", "TOKEN_TEXT", "export_hf", "token_strings"]

SCHEMA = "cascade-core/activations/1"
#: How the ``tokens`` metadata is made from the ids (recorded in the ``tokenizer`` metadata).
TOKEN_TEXT = "decode([id]) per token, special tokens kept, no clean-up"

#: Attention projections by module name: BERT-like, Llama-like, GPT-2-like (layer index, projection).
_PROJECTIONS = [
    re.compile(r"(?:^|\.)(\d+)\.attention\.self\.(query|key|value)$"),
    re.compile(r"(?:^|\.)(\d+)\.self_attn\.(q_proj|k_proj|v_proj)$"),
    re.compile(r"(?:^|\.)(\d+)\.attn\.(c_attn)$"),
]
_ROLE = {"query": "q", "key": "k", "value": "v", "q_proj": "q", "k_proj": "k", "v_proj": "v"}


def _imports():
    try:
        import torch
        import transformers
        from safetensors.torch import save
    except ImportError as err:
        raise ImportError(
            f"exporting needs PyTorch, transformers and safetensors ({err}); pip install 'cascade-core[export]'"
        ) from None
    return torch, transformers, save


def _heads(config) -> tuple[int, int, int]:
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not heads or not hidden:
        raise CascadeInputError("cannot tell the model's attention heads from its config")
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    return heads, kv_heads, head_dim


def export_hf(
    model_dir: str | Path,
    texts: list[str | Path],
    out: str | Path,
    *,
    qkv: bool = False,
    max_tokens: int | None = None,
    dtype: str = "float16",
    force: bool = False,
) -> dict:
    """Run `texts` through the model in `model_dir` and save its activations to `out`.

    Parameters
    ----------
    model_dir : str or Path
        A local Hugging Face model directory (config, weights, tokenizer).
    texts : list of str or Path
        Text files; each is one sequence of the batch.
    out : str or Path
        The ``.safetensors`` file to write (never overwritten without `force`).
    qkv : bool, default False
        Also save every layer's queries, keys and values.
    max_tokens : int, optional
        Truncate each text to this many tokens.
    dtype : {"float16", "bfloat16", "float32"}
        The dtype of the saved activations.
    force : bool, default False
        Replace an existing `out`.

    Returns
    -------
    dict
        The shapes written, by tensor name.
    """
    torch, transformers, save = _imports()
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CascadeInputError("not a model directory", path=str(model_dir))
    if not (model_dir / "config.json").is_file():
        raise CascadeInputError(
            "not a model directory: no config.json (a local Hugging Face model folder holds config.json, "
            "the weights and the tokenizer files)",
            path=str(model_dir),
        )
    if Path(out).exists() and not force:
        raise CascadeInputError("exists; not overwritten (use force=True)", path=str(out), param="force")
    if dtype not in ("float16", "bfloat16", "float32"):
        raise CascadeInputError(f"dtype must be float16, bfloat16 or float32, got {dtype!r}", param="dtype")
    if max_tokens is not None and max_tokens < 1:
        raise CascadeInputError(f"max_tokens must be positive, got {max_tokens}", param="max_tokens")
    if not texts:
        raise CascadeInputError("texts must name at least one text file", param="texts")
    contents = []
    for text in texts:
        try:
            contents.append(Path(text).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise CascadeInputError(f"cannot read text: {err}", path=str(text)) from None
        if not contents[-1].strip():
            raise CascadeInputError("empty text", path=str(text))

    model, tokenizer = _load_model(transformers, model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    batch = tokenizer(
        contents, padding=True, truncation=max_tokens is not None, max_length=max_tokens, return_tensors="pt"
    )
    heads, kv_heads, head_dim = _heads(model.config)

    captured: dict[str, dict[int, object]] = {"q": {}, "k": {}, "v": {}}
    hooks = []
    if qkv:
        for name, module in model.named_modules():
            for pattern in _PROJECTIONS:
                match = pattern.search(name)
                if match:
                    hooks.append(module.register_forward_hook(_hook(captured, int(match.group(1)), match.group(2))))
        if not hooks:
            raise CascadeInputError(
                f"qkv=True: no attention projections found in a {model.config.model_type!r} model "
                "(known: BERT-like query/key/value, GPT-2-like c_attn, Llama-like q_proj/k_proj/v_proj)"
            )
    rows = model.get_input_embeddings().num_embeddings
    if int(batch["input_ids"].max()) >= rows:
        raise CascadeInputError(
            f"the tokenizer gives token id {int(batch['input_ids'].max())}, the model's embedding has {rows} rows: "
            "tokenizer files and model do not match (corrupt?)",
            path=str(model_dir),
        )
    try:
        with torch.no_grad():
            output = model(**batch, output_hidden_states=True)
    except (RuntimeError, IndexError, ValueError) as err:  # torch's errors in a forward pass of a bad config
        text = str(err).strip()
        raise CascadeInputError(
            f"the model fails on the texts ({type(err).__name__}: {text.splitlines()[0] if text else ''})",
            path=str(model_dir),
        ) from None
    finally:
        for hook in hooks:
            hook.remove()

    target = getattr(torch, dtype)
    mask = batch["attention_mask"]
    tensors = {
        "hidden_states": torch.stack(output.hidden_states).to(target).contiguous(),
        "attention_mask": mask.to(torch.int8).contiguous(),
        "input_ids": batch["input_ids"].to(torch.int64).contiguous(),
    }
    right_padded = bool((mask[:, :-1] >= mask[:, 1:]).all())  # valid tokens form a prefix
    if right_padded:
        tensors["lengths"] = mask.sum(dim=1).to(torch.int64).contiguous()
    layouts = {"hidden_states": "LBTD"}
    if qkv:
        n_layers = len(output.hidden_states) - 1
        for role, width in (("q", heads), ("k", kv_heads), ("v", kv_heads)):
            layers = captured[role]
            if sorted(layers) != list(range(n_layers)):
                raise CascadeInputError(
                    f"qkv=True: captured {role} for layers {sorted(layers)}, expected 0..{n_layers - 1}"
                )
            per_layer = [_split_heads(layers[i], width, head_dim) for i in range(n_layers)]
            tensors[role] = torch.stack(per_layer).to(target).contiguous()
            layouts[role] = "LBHTD"

    config = model.config
    metadata = {
        "schema": SCHEMA,
        "model": str(getattr(config, "_name_or_path", "") or model_dir.name),
        "model_type": str(config.model_type),
        "layers": f"hidden_states[0] is the embedding output, hidden_states[i] the output of layer i "
        f"(1..{len(output.hidden_states) - 1}); q/k/v[i] are layer i+1's projections"
        + (", before rotary embeddings" if config.model_type in ("llama", "mistral", "qwen2", "gemma") else ""),
        "layouts": json.dumps(layouts),
        "heads": str(heads),
        "kv_heads": str(kv_heads),
        "tokenizer": json.dumps(
            {"class": type(tokenizer).__name__, "name": str(tokenizer.name_or_path), "tokens": TOKEN_TEXT}
        ),
        "tokens": json.dumps(token_strings(tokenizer, batch["input_ids"].tolist()), ensure_ascii=False),
        "texts": json.dumps(
            [
                {"file": Path(t).name, "sha256": hashlib.sha256(c.encode()).hexdigest()}
                for t, c in zip(texts, contents, strict=True)
            ]
        ),
        "max_tokens": str(max_tokens) if max_tokens else "",
        "dtype": dtype,
        "library": "cascade-core",
    }
    write_atomic(out, save(tensors, metadata=metadata), force=force)
    return {name: tuple(t.shape) for name, t in tensors.items()}


def _load_model(transformers, model_dir: Path):
    """The model and its tokenizer, loaded offline; any failure to load is one clean error."""
    for weights in sorted(model_dir.glob("*.safetensors")):
        check_safetensors(weights)  # a truncated or corrupt weights file, before transformers reads it
    transformers.utils.logging.disable_progress_bar()
    verbosity = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()  # its load report would be many lines; ours is one
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model, loading = transformers.AutoModel.from_pretrained(
            model_dir, local_files_only=True, output_loading_info=True
        )
    except Exception as err:  # transformers, tokenizers, safetensors and torch.load each raise their own kinds
        text = str(err).strip()
        message = text.splitlines()[0] if text else type(err).__name__
        raise CascadeInputError(f"cannot load the model or its tokenizer: {message}", path=str(model_dir)) from None
    finally:
        transformers.utils.logging.set_verbosity(verbosity)
    mismatched = {k if isinstance(k, str) else k[0] for k in loading.get("mismatched_keys", ())}
    lacking = sorted(set(loading.get("missing_keys", ())) | mismatched)
    if lacking:
        shown = ", ".join(lacking[:3]) + (", ..." if len(lacking) > 3 else "")
        raise CascadeInputError(
            f"the weights lack or misshape {len(lacking)} tensor{'s' if len(lacking) != 1 else ''} of the model "
            f"({shown}): corrupt or incomplete weights; nothing exported",
            path=str(model_dir),
        )
    return model.eval(), tokenizer


def token_strings(tokenizer, ids: list[list[int]]) -> list[list[str]]:
    """Each token's text, as the tokenizer decodes that token alone (:data:`TOKEN_TEXT`).

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerBase
        The model's tokenizer.
    ids : list of list of int
        Token ids, one list per text (padding included).

    Returns
    -------
    list of list of str
        ``tokenizer.decode([i])`` for every id: the surface text a reader
        sees (a byte-level BPE's ``Ġword`` is `` word``), special tokens such
        as ``[CLS]`` kept; a piece of a multi-byte character decodes to
        ``\ufffd``. ``input_ids`` keeps the exact ids.
    """
    return [
        tokenizer.batch_decode([[i] for i in row], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        for row in ids
    ]


def _hook(captured: dict, layer: int, which: str):
    def hook(module, inputs, output):
        if which == "c_attn":  # GPT-2: one projection, then split into q, k, v
            q, k, v = output.split(output.shape[-1] // 3, dim=-1)
            captured["q"][layer], captured["k"][layer], captured["v"][layer] = q, k, v
        else:
            captured[_ROLE[which]][layer] = output

    return hook


def _split_heads(x, heads: int, head_dim: int):
    batch, tokens, width = x.shape
    if width != heads * head_dim:
        raise CascadeInputError(f"qkv=True: a projection of width {width} does not split into {heads} x {head_dim}")
    return x.reshape(batch, tokens, heads, head_dim).permute(0, 2, 1, 3)
