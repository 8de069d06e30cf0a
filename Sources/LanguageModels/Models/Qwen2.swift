// Qwen2 (`model_type: qwen2`, Qwen2ForCausalLM) is Llama with a bias on each of the query, key and value
// projections (none on o_proj), usually a rotary base of 10⁶ and, in the small sizes, a tied output head. It runs as
// `LlamaForCausalLM` (Models/Llama.swift) with `LlamaVariant.queryKeyValueBias`; `ModelConfiguration` sets that from
// the architecture. Sliding-window attention (`use_sliding_window: true`) is refused when the window is shorter than
// the model's context.
