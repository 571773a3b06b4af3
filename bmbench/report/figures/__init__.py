"""The report's figures: one function per figure, each returning a matplotlib Figure, or None when
the result holds none of the data it draws.

Figures use matplotlib's object API with the Agg canvas (no pyplot, no global backend switch).
Provenance is drawn the same way everywhere:
  measured  = solid markers, lines and bars;
  projected = hollow markers, dashed lines, white bars hatched ``///``;
  estimated = pale bars hatched ``xx`` with a dashed edge, labelled "estimated";
  published = gold stars with a black edge, numbered; the numbers are footnotes naming the source.
One module per subject (kernels, decode, resources, projections, prompt, comparison) over the shared
style; FIGURES below is the report's order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from matplotlib.figure import Figure

from .comparison import fig_comparison
from .decode import engine_pairs, fig_decode, fig_engines, fig_latency, speedup_pairs
from .kernels import fig_bandwidth, fig_quant_error, fig_roofline
from .projections import fig_projections
from .prompt import context_groups, fig_context, fig_prefill, fig_prompt_length
from .resources import fig_energy, fig_memory, memory_parts
from .style import DPI, fmt_bytes

# what the report's pages use beside the registry
__all__ = ["FIGURES", "FigureSpec", "fig_comparison", "engine_pairs", "speedup_pairs", "context_groups",
           "memory_parts", "DPI", "fmt_bytes"]


# --------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class FigureSpec:
    key: str
    title: str
    draw: Callable[..., Figure | None]
    absent: str          # said plainly when the figure cannot be drawn
    caption: str


FIGURES: list[FigureSpec] = [
    FigureSpec("bandwidth", "Bandwidth probe", fig_bandwidth,
               "no probe cases with a bandwidth curve (extra.curve) in this result",
               "GB/s against working-set size for every probe kernel x flavour x threads (measured); "
               "dashed: the plateau of each level; dotted verticals: the cache sizes of this host."),
    FigureSpec("roofline", "Roofline", fig_roofline,
               "no decode cases with a bound and no gemv cases in this result",
               "Achieved decode tok/s against the roofline bound (projected), and GEMV weight GB/s "
               "against the DRAM read bandwidth measured in the same run, per thread count."),
    FigureSpec("decode", "Decode throughput", fig_decode, "no decode cases in this result",
               "Measured tok/s (solid) inside the roofline bound (hatched, projected), grouped by "
               "model; right: speedup of the ternary formats over q8_0 / q4_0 of the same model and "
               "thread count."),
    FigureSpec("engines", "bmbench vs llama.cpp", fig_engines,
               "no decode cases of two engines with the same model, weight class and threads in this result "
               "(the llamacpp suite runs both)",
               "Decode tok/s of bmbench's kernels and llama.cpp on the same synthetic weights (measured, "
               "solid) inside each case's roofline bound (hatched, projected); below: the tok/s ratio "
               "of each bmbench format over each llama.cpp type of the same weight class."),
    FigureSpec("prefill", "Prompt processing and generation", fig_prefill,
               "no decode cases with a measured prompt phase (pp_tok_s) in this result",
               "Prompt processing (pp, batched: solid) beside generation (tg: pale) at the most common "
               "prompt length, per model x format x threads (x engine); hatched: pp's compute roof "
               "(projected from the batched GEMM's in-cache rate on this host)."),
    FigureSpec("prompt-length", "Prompt length", fig_prompt_length,
               "no decode cases at two or more prompt lengths in this result (the prefill suite sweeps them)",
               "pp tok/s (measured; dashed: compute roof, projected) and time to first token against "
               "prompt length, per model x format x threads (x engine)."),
    FigureSpec("memory", "Memory", fig_memory,
               "no decode cases with memory figures (memory.peak_rss_bytes) in this result",
               "Weights, state, baseline and runtime overhead (peak RSS - weights - state - baseline) "
               "stacked; the diamond is the measured peak RSS."),
    FigureSpec("projections", "Host projections and published figures", fig_projections,
               "no decode cases with host projections (roofline.projections) in this result",
               "Measured here (solid), projected to host profiles by the roofline model (hatched), and "
               "published figures from other machines and methods (stars, sources in the notes)."),
    FigureSpec("energy", "Energy per token", fig_energy,
               "no decode cases with an energy figure in this result",
               "J/token per decode case: measured by energy counters (solid) or estimated by the "
               "labelled power model (pale, cross-hatched); published figures as stars."),
    FigureSpec("latency", "Per-token latency", fig_latency,
               "no decode cases with per-token latencies (extra.token_latencies_ms) in this result",
               "Distribution of the per-token latency of the last repetition of each decode case."),
    FigureSpec("quant-error", "Speed vs quantisation error", fig_quant_error,
               "no gemv cases with a quantisation error (rel_rms_error) in this result",
               "GEMV speed against the relative RMS error of the format's output against float64."),
    FigureSpec("context", "Context-length scaling", fig_context,
               "no decode cases at two or more context lengths in this result",
               "tok/s and bytes read per token against context length, per model x format x threads."),
]
