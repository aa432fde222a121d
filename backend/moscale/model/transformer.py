"""The text-conditioned token transformer (next-scale, with a next-token baseline mode).

Sequence, next-scale mode (VAR-style, scales concatenated coarse to fine, see `moscale.model.scales`):
    position i of scale k:  x = tok_emb(token or MASK) + in_proj(f̂_{<k} area-downsampled to scale k) + level_emb(k)
    scale 0 has no f̂ yet: learned queries, which first cross-attend to the text, take the place of in_proj(f̂).
Attention is block-causal (bidirectional within a scale, causal across scales) with per-sample key padding, positions are
1D RoPE on token centres normalised onto the finest latent grid. Every block has AdaLN (shift/scale/gate) driven by the
pooled queries, and cross-attention to the text tokens. `tok_emb + in_proj` is the paper's Linear(concat[f̂, embedding]).

Next-token mode (the T2M-GPT-like baseline, same blocks): [queries, tok(t_0), ..., tok(t_{n-1})] with a causal mask;
the output at position Nq-1+i predicts t_i, and the one after the last token predicts END.

Sampling runs scale by scale (or token by token) through `step` with a `KVCache` holding the keys/values of earlier
scales; `forward` on the whole sequence gives the same logits (tests/test_transformer.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from moscale.model import scales
from moscale.model.rope import apply_rope, rope_cos_sin

NEXT_SCALE = "next-scale"
NEXT_TOKEN = "next-token"


@dataclass(frozen=True)
class TransformerConfig:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    mlp_ratio: float = 4.0
    num_codes: int = 512  # tokenizer codebook size; MASK = num_codes, END = num_codes (output side, next-token only)
    code_dim: int = 512  # width of the tokenizer's latent f̂
    text_dim: int = 384  # width of the text encoder's token states
    factors: tuple[int, ...] = scales.SCALE_FACTORS
    max_latent: int = 49  # 196 frames at 4 frames per latent step
    num_queries: int = 6  # next-scale: tokens of the coarsest scale at max_latent; next-token: the prefix length
    query_layers: int = 1
    mode: str = NEXT_SCALE
    rope_base: float = 1000.0
    dropout: float = 0.0

    def __post_init__(self):
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(f"n_embd {self.n_embd} must split into {self.n_head} heads of even width")
        if self.mode not in (NEXT_SCALE, NEXT_TOKEN):
            raise ValueError(f"mode must be {NEXT_SCALE!r} or {NEXT_TOKEN!r}, got {self.mode!r}")
        if self.mode == NEXT_SCALE and self.num_queries < scales.token_length(self.max_latent, self.factors[0]):
            raise ValueError("num_queries must cover the coarsest scale at max_latent")

    @classmethod
    def paper(cls, **overrides) -> "TransformerConfig":
        return cls(**{**dict(n_layer=16, n_head=8, n_embd=768), **overrides})

    @classmethod
    def small(cls, **overrides) -> "TransformerConfig":
        return cls(**{**dict(n_layer=4, n_head=4, n_embd=256), **overrides})

    @classmethod
    def preset(cls, name: str, **overrides) -> "TransformerConfig":
        if name not in ("paper", "small"):
            raise ValueError(f"unknown preset {name!r} (choose 'small' or 'paper')")
        return getattr(cls, name)(**overrides)

    @property
    def num_levels(self) -> int:
        return len(self.factors) if self.mode == NEXT_SCALE else 2

    @property
    def vocab_out(self) -> int:
        return self.num_codes + (1 if self.mode == NEXT_TOKEN else 0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TransformerConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown transformer config keys {sorted(unknown)} (newer MoScale version?)")
        data = dict(data)
        if "factors" in data:
            data["factors"] = tuple(data["factors"])
        return cls(**data)


# ---------------------------------------------------------------------------------------------------------------------
# sequence layouts


@dataclass
class Layout:
    """Where each sample's tokens sit in a padded batch sequence."""
    lengths: tuple[int, ...]  # padded token count per level (next-scale: per scale; next-token: (Nq, n_max))
    level_L: torch.Tensor  # (L,) int64
    valid_BL: torch.Tensor  # (B, L) bool
    pos_BL: torch.Tensor  # (B, L) float32 positions on the finest latent grid
    causal: bool  # next-token: causal mask; next-scale: block-causal

    def attention_mask(self) -> torch.Tensor:
        """(B, 1, L, L) bool: query i may attend key j."""
        L = self.level_L.shape[0]
        if self.causal:
            allowed_LL = torch.ones(L, L, dtype=torch.bool, device=self.level_L.device).tril()
        else:
            allowed_LL = self.level_L[:, None] >= self.level_L[None, :]
        return (allowed_LL[None] & self.valid_BL[:, None, :]).unsqueeze(1)

    def to(self, device) -> "Layout":
        return replace(self, level_L=self.level_L.to(device), valid_BL=self.valid_BL.to(device),
                       pos_BL=self.pos_BL.to(device))


def scale_positions(latent_len: int, n_tokens: int) -> torch.Tensor:
    """Centres of n_tokens evenly spread tokens on a latent grid of latent_len steps, (n_tokens,) float32."""
    return ((torch.arange(n_tokens, dtype=torch.float64) + 0.5) * latent_len / n_tokens - 0.5).float()


def next_scale_layout(latent_lengths_B: torch.Tensor, factors: tuple[int, ...]) -> Layout:
    latent_lengths_B = latent_lengths_B.cpu()
    lengths = scales.token_lengths(int(latent_lengths_B.max()), factors)
    B, L = latent_lengths_B.shape[0], sum(lengths)
    valid_BL = torch.zeros(B, L, dtype=torch.bool)
    pos_BL = torch.zeros(B, L)
    for b, n in enumerate(latent_lengths_B.tolist()):
        for (begin, _), count in zip(scales.begin_end(lengths), scales.token_lengths(n, factors)):
            valid_BL[b, begin:begin + count] = True
            pos_BL[b, begin:begin + count] = scale_positions(n, count)
    return Layout(lengths, scales.level_ids(lengths), valid_BL, pos_BL, causal=False)


def next_token_layout(latent_lengths_B: torch.Tensor, num_queries: int) -> Layout:
    """[queries (positions -Nq..-1), tokens t_0..t_{n-1} (positions 0..n-1)]."""
    latent_lengths_B = latent_lengths_B.cpu()
    n_max = int(latent_lengths_B.max())
    lengths = (num_queries, n_max)
    L = num_queries + n_max
    valid_BL = torch.arange(L)[None, :] < (num_queries + latent_lengths_B)[:, None]
    pos_BL = (torch.arange(L, dtype=torch.float32) - num_queries).expand(len(latent_lengths_B), L).clone()
    return Layout(lengths, scales.level_ids(lengths), valid_BL, pos_BL, causal=True)


# ---------------------------------------------------------------------------------------------------------------------
# building blocks


def modulate(x_BLD: torch.Tensor, shift_BD: torch.Tensor, scale_BD: torch.Tensor) -> torch.Tensor:
    return x_BLD * (1 + scale_BD[:, None]) + shift_BD[:, None]


class KVCache:
    """Keys/values of committed positions per layer; a `step` leaves its own in `pending` until `commit()`."""

    def __init__(self, n_layer: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer
        self.pending: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * n_layer
        self.valid_BL: torch.Tensor | None = None
        self.pending_valid_BL: torch.Tensor | None = None
        self.text_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.valid_BL is None else self.valid_BL.shape[1]

    def commit(self, first: int | None = None) -> None:
        """Move the pending keys/values into the cache: all of them, or only the first `first` positions."""
        for i, item in enumerate(self.pending):
            key, value = item if first is None else (item[0][:, :, :first], item[1][:, :, :first])
            self.keys[i] = key if self.keys[i] is None else torch.cat([self.keys[i], key], dim=2)
            self.values[i] = value if self.values[i] is None else torch.cat([self.values[i], value], dim=2)
            self.pending[i] = None
        valid = self.pending_valid_BL if first is None else self.pending_valid_BL[:, :first]
        self.valid_BL = valid if self.valid_BL is None else torch.cat([self.valid_BL, valid], dim=1)


class SelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig, layer: int):
        super().__init__()
        self.n_head, self.layer = config.n_head, layer
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x_BLD, rope, mask_B1LK, cache: KVCache | None = None):
        B, L, D = x_BLD.shape
        q, k, v = self.qkv(x_BLD).view(B, L, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)  # (B, H, L, d)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            cache.pending[self.layer] = (k, v)
            if cache.keys[self.layer] is not None:
                k = torch.cat([cache.keys[self.layer], k], dim=2)
                v = torch.cat([cache.values[self.layer], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_B1LK,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class CrossAttention(nn.Module):
    def __init__(self, config: TransformerConfig, layer: int):
        super().__init__()
        self.n_head, self.layer = config.n_head, layer
        self.q = nn.Linear(config.n_embd, config.n_embd)
        self.kv = nn.Linear(config.n_embd, 2 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x_BLD, text_BSD, text_mask_BS, cache: KVCache | None = None):
        B, L, D = x_BLD.shape
        H, S = self.n_head, text_BSD.shape[1]
        q = self.q(x_BLD).view(B, L, H, D // H).transpose(1, 2)
        if cache is not None and cache.text_kv[self.layer] is not None:
            k, v = cache.text_kv[self.layer]
        else:
            k, v = self.kv(text_BSD).view(B, S, 2, H, D // H).permute(2, 0, 3, 1, 4)
            if cache is not None:
                cache.text_kv[self.layer] = (k, v)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=text_mask_BS[:, None, None, :])
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class MLP(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        hidden = int(config.mlp_ratio * config.n_embd)
        self.fc = nn.Linear(config.n_embd, hidden)
        self.proj = nn.Linear(hidden, config.n_embd)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x), approximate="tanh")))


class Block(nn.Module):
    """AdaLN self-attention, cross-attention to the text, AdaLN MLP."""

    def __init__(self, config: TransformerConfig, layer: int):
        super().__init__()
        D = config.n_embd
        self.ln_attn = nn.LayerNorm(D, elementwise_affine=False)
        self.attn = SelfAttention(config, layer)
        self.ln_cross = nn.LayerNorm(D)
        self.cross = CrossAttention(config, layer)
        self.ln_mlp = nn.LayerNorm(D, elementwise_affine=False)
        self.mlp = MLP(config)
        self.ada = nn.Linear(D, 6 * D)  # shift, scale, gate for attention and MLP

    def modulation(self, cond_BD: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(shift_a, scale_a, gate_a, shift_m, scale_m, gate_m), each (B, D): fixed for a prompt."""
        return self.ada(F.silu(cond_BD)).chunk(6, dim=-1)

    def forward(self, x_BLD, cond_BD, text_BSD, text_mask_BS, rope, mask_B1LK, cache=None,
                modulation: tuple[torch.Tensor, ...] | None = None):
        """`modulation`: this block's `self.modulation(cond_BD)` computed beforehand (then cond_BD is not read)."""
        if modulation is None:
            modulation = self.modulation(cond_BD)
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = modulation
        x_BLD = x_BLD + gate_a[:, None] * self.attn(modulate(self.ln_attn(x_BLD), shift_a, scale_a), rope, mask_B1LK,
                                                    cache)
        x_BLD = x_BLD + self.cross(self.ln_cross(x_BLD), text_BSD, text_mask_BS, cache)
        return x_BLD + gate_m[:, None] * self.mlp(modulate(self.ln_mlp(x_BLD), shift_m, scale_m))


class QueryPool(nn.Module):
    """Learned queries that read the text: start tokens of scale 0 (next-token: the prefix) and, pooled, the AdaLN input."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        D = config.n_embd
        self.queries = nn.Parameter(torch.randn(config.num_queries, D) * 0.02)
        self.layers = nn.ModuleList(nn.ModuleDict(dict(ln=nn.LayerNorm(D), cross=CrossAttention(config, 0),
                                                       ln_mlp=nn.LayerNorm(D), mlp=MLP(config)))
                                    for _ in range(config.query_layers))
        self.ln_out = nn.LayerNorm(D)

    def forward(self, text_BSD, text_mask_BS):
        q_BQD = self.queries.expand(text_BSD.shape[0], -1, -1)
        for layer in self.layers:
            q_BQD = q_BQD + layer["cross"](layer["ln"](q_BQD), text_BSD, text_mask_BS)
            q_BQD = q_BQD + layer["mlp"](layer["ln_mlp"](q_BQD))
        q_BQD = self.ln_out(q_BQD)
        return q_BQD, q_BQD.mean(dim=1)


@dataclass
class Modulation:
    """AdaLN shift/scale/gate of every block and of the output norm, computed once from the pooled condition."""
    blocks: list[tuple[torch.Tensor, ...]]  # per block 6 x (B, D)
    out: tuple[torch.Tensor, torch.Tensor]  # (shift_BD, scale_BD)


@dataclass
class Context:
    """Per-prompt tensors shared by every pass of one sampling run."""
    queries_BQD: torch.Tensor
    cond_BD: torch.Tensor
    text_BSD: torch.Tensor  # projected to n_embd
    text_mask_BS: torch.Tensor
    modulation: Modulation | None = None  # None: every pass recomputes it from cond_BD


# ---------------------------------------------------------------------------------------------------------------------
# the model


class MotionTransformer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        D = config.n_embd
        self.text_norm = nn.LayerNorm(config.text_dim)
        self.text_proj = nn.Linear(config.text_dim, D)
        self.null_text = nn.Parameter(torch.randn(config.text_dim) * 0.02)  # the unconditional "prompt" for CFG
        self.query_pool = QueryPool(config)
        self.tok_emb = nn.Embedding(config.num_codes + 1, D)  # last row: MASK
        # f̂ so far, downsampled to the position's scale (the next-token baseline has no f̂ input)
        self.in_proj = nn.Linear(config.code_dim, D) if config.mode == NEXT_SCALE else None
        self.level_emb = nn.Embedding(config.num_levels, D)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_out = nn.LayerNorm(D, elementwise_affine=False)
        self.ada_out = nn.Linear(D, 2 * D)
        self.head = nn.Linear(D, config.vocab_out)
        self.apply(self._init_weights)
        for module in [*(b.ada for b in self.blocks), self.ada_out]:  # AdaLN-Zero: every block starts as identity
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @property
    def mask_id(self) -> int:
        return self.config.num_codes

    @property
    def end_id(self) -> int:
        return self.config.num_codes

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- conditioning

    def context(self, text_BSD: torch.Tensor, text_mask_BS: torch.Tensor, drop_text_B: torch.Tensor | None = None,
                precompute: bool = True) -> Context:
        """Project the text; samples with drop_text_B True see only the learned unconditional embedding.
        `precompute`: also compute every block's AdaLN modulation now, once for all passes of a sampling run
        (False: each `run` recomputes it; the logits are the same)."""
        if drop_text_B is not None:  # always through torch.where, so DDP sees null_text used in every step
            null_BSD = self.null_text.to(text_BSD.dtype).expand_as(text_BSD)
            text_BSD = torch.where(drop_text_B[:, None, None], null_BSD, text_BSD)
            first_S = torch.arange(text_BSD.shape[1], device=text_BSD.device) == 0
            text_mask_BS = torch.where(drop_text_B[:, None], first_S[None, :], text_mask_BS)
        text_BSD = self.text_proj(self.text_norm(text_BSD))
        queries_BQD, cond_BD = self.query_pool(text_BSD, text_mask_BS)
        return Context(queries_BQD, cond_BD, text_BSD, text_mask_BS,
                       self.modulation(cond_BD) if precompute else None)

    def modulation(self, cond_BD: torch.Tensor) -> Modulation:
        """Every block's AdaLN modulation for a condition (B, D): constant across the passes of one prompt."""
        return Modulation([block.modulation(cond_BD) for block in self.blocks],
                          self.ada_out(F.silu(cond_BD)).chunk(2, dim=-1))

    def unconditional_text(self, batch: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(text_BSD, mask_BS) for the unconditional branch of classifier-free guidance."""
        text_BSD = self.null_text.detach().to(device).expand(batch, 1, -1)
        return text_BSD, torch.ones(batch, 1, dtype=torch.bool, device=device)

    # --- inputs

    def embed(self, ctx: Context, tokens_BL: torch.Tensor, fhat_BLC: torch.Tensor | None,
              level_L: torch.Tensor, n_query_slots: int) -> torch.Tensor:
        """Inputs for a run of positions: tok_emb + level_emb + (learned query for the first `n_query_slots`
        positions, in_proj(f̂) for the others; f̂ rows of query slots are ignored)."""
        B, L = tokens_BL.shape
        x_BLD = self.level_emb(level_L)[None] + self.tok_emb(tokens_BL)
        parts = [ctx.queries_BQD[:, :n_query_slots]]
        if L > n_query_slots:
            parts.append(self.in_proj(fhat_BLC[:, n_query_slots:]) if fhat_BLC is not None
                         else x_BLD.new_zeros(B, L - n_query_slots, x_BLD.shape[-1]))
        return x_BLD + torch.cat(parts, dim=1)

    def run(self, x_BLD, pos_BL, mask_B1LK, ctx: Context, cache: KVCache | None = None) -> torch.Tensor:
        rope = rope_cos_sin(pos_BL, self.config.n_embd // self.config.n_head, self.config.rope_base)
        modulation = ctx.modulation if ctx.modulation is not None else self.modulation(ctx.cond_BD)
        for block, block_modulation in zip(self.blocks, modulation.blocks):
            x_BLD = block(x_BLD, ctx.cond_BD, ctx.text_BSD, ctx.text_mask_BS, rope, mask_B1LK, cache, block_modulation)
        shift, scale = modulation.out
        return self.head(modulate(self.ln_out(x_BLD), shift, scale))

    # --- whole sequence (training, and the reference for cached sampling)

    def forward(self, tokens_BL: torch.Tensor, fhat_BLC: torch.Tensor | None, layout: Layout,
                text_BSD: torch.Tensor, text_mask_BS: torch.Tensor, drop_text_B: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Logits (B, L, V) for every position of the padded sequence.

        next-scale: tokens_BL are the input tokens (MASK where to predict), fhat_BLC f̂ so far per position (rows of
        scale 0 are ignored). next-token: tokens_BL (B, n_max) are the codes t_0..; fhat_BLC is None."""
        ctx = self.context(text_BSD, text_mask_BS, drop_text_B)
        if self.config.mode == NEXT_SCALE:
            x_BLD = self.embed(ctx, tokens_BL, fhat_BLC, layout.level_L, layout.lengths[0])
        else:
            B, Q = tokens_BL.shape[0], layout.lengths[0]
            prefix_BQ = tokens_BL.new_full((B, Q), self.mask_id)  # query slots carry MASK, like scale 0's
            x_BLD = self.embed(ctx, torch.cat([prefix_BQ, tokens_BL], dim=1), None, layout.level_L, Q)
        return self.run(x_BLD, layout.pos_BL, layout.attention_mask(), ctx)

    # --- a run of new positions against the cache (sampling)

    def step(self, ctx: Context, cache: KVCache, tokens_BL: torch.Tensor, fhat_BLC: torch.Tensor | None,
             level: int | torch.Tensor, pos_BL: torch.Tensor, valid_BL: torch.Tensor, n_query_slots: int = 0,
             causal: bool = False) -> torch.Tensor:
        """Logits (B, L, V) for new positions that see every committed position and each other (causally if asked).
        `level` is one level for all, or a (L,) tensor of non-decreasing levels: then the new positions attend
        block-causally among themselves, as in `forward` (a finished scale and the next one in one pass).
        Their keys/values wait in `cache.pending` until `cache.commit()`."""
        B, L = pos_BL.shape
        if isinstance(level, torch.Tensor):
            level_L = level.to(pos_BL.device)
            within_LL = level_L[:, None] >= level_L[None, :]
        else:
            level_L = torch.full((L,), level, dtype=torch.long, device=pos_BL.device)
            within_LL = torch.ones(L, L, dtype=torch.bool, device=pos_BL.device)
        x_BLD = self.embed(ctx, tokens_BL, fhat_BLC, level_L, n_query_slots)
        if causal:
            within_LL = within_LL.tril()
        mask_B1LK = within_LL[None] & valid_BL[:, None, :]
        if cache.valid_BL is not None:
            mask_B1LK = torch.cat([cache.valid_BL[:, None, :].expand(B, L, -1), mask_B1LK], dim=2)
        cache.pending_valid_BL = valid_BL
        return self.run(x_BLD, pos_BL, mask_B1LK.unsqueeze(1), ctx, cache)

    # --- release files

    def save_pretrained(self, path) -> None:
        from moscale.utils.atomic import save_safetensors

        save_safetensors(path, {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
                         metadata={"config": json.dumps(self.config.to_dict())})

    @classmethod
    def from_pretrained(cls, path, config: TransformerConfig | None = None) -> "MotionTransformer":
        from safetensors import safe_open
        from safetensors.torch import load_file

        if config is None:
            with safe_open(str(path), framework="pt") as f:
                config = TransformerConfig.from_dict(json.loads((f.metadata() or {})["config"]))
        model = cls(config)
        model.load_state_dict(load_file(str(path)))
        return model.eval()
