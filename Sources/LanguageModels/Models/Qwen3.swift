// Qwen3 (`model_type: qwen3`, Qwen3ForCausalLM) is Llama with an RMSNorm over each head of the queries and keys,
// applied before the rotation (`self_attn.q_norm`, `self_attn.k_norm`, each of size head_dim), no projection biases,
// and a `head_dim` of its own (not hidden_size / num_attention_heads). It runs as `LlamaForCausalLM`
// (Models/Llama.swift) with `LlamaVariant.queryKeyNorm`, which `ModelConfiguration` sets for this architecture.
