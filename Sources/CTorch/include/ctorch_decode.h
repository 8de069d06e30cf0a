// ctorch_decode.h — one decoding step of a Llama-family model (Llama, Qwen2, Qwen3) as one C call over raw float32
// buffers: no ATen operation per layer, which for small models is where a step's time goes (each ATen call costs
// microseconds of dispatch and allocation, a tiny model's whole layer a few). Conventions are ctorch.h's.
#ifndef CTORCH_DECODE_H
#define CTORCH_DECODE_H
#include "ctorch.h"
#ifdef __cplusplus
extern "C" {
#endif

/// The shape of the model.
typedef struct {
  int64_t layers, hidden, heads, kv_heads, head_dim, intermediate, vocabulary;
  double norm_eps;
  int32_t query_key_norm;  // Qwen3's per-head RMSNorm on queries and keys
} ct_decode_shape;

/// The tensors of one layer, all float32, contiguous, on the CPU; biases and the head norms may be NULL.
typedef struct {
  ct_tensor input_norm, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, o_weight, o_bias, q_norm, k_norm,
      post_norm, gate_weight, up_weight, down_weight;
  ct_tensor cache_keys, cache_values;  // [rows, kv_heads, capacity, head_dim]
} ct_decode_layer;

/// Feeds one token per row and returns the next-token logits [rows, vocabulary].
///
/// - `tokens`, `positions`: per row, the token fed and its position within its own sequence (rotary angle).
/// - `first_key`: per row, the first cache column holding a real key (left padding before it is never attended).
/// - `offset`: the cache columns already filled; the new keys and values are written at column `offset`.
/// - `inverse_frequencies`: float32 [head_dim / 2], the rotary table's.
/// - `embedding` [vocabulary, hidden], `final_norm` [hidden], `output` [vocabulary, hidden].
/// At most 16 rows. Fails (NULL) on anything else: the caller then takes the general path.
ct_tensor ct_decode_step(const ct_decode_shape *shape, const ct_decode_layer *layers, ct_tensor embedding,
                         ct_tensor final_norm, ct_tensor output, ct_tensor inverse_frequencies, const int64_t *tokens,
                         const int64_t *positions, const int64_t *first_key, int64_t rows, int64_t offset);

/// How many steps ct_decode_step computed in this process.
int64_t ct_decode_step_calls(void);

#ifdef __cplusplus
}
#endif
#endif

#ifndef CTORCH_DECODE_SAMPLING
#define CTORCH_DECODE_SAMPLING
#ifdef __cplusplus
extern "C" {
#endif
/// Picks one token per row of `logits` (float32 [rows, vocabulary], contiguous) as Proxima's sampler does, in one
/// call: greedy (`temperature` 0: the first largest logit) or a draw by inverse cumulative distribution with the
/// row's uniform from `uniforms` (float32 [rows]) after dividing by the temperature and the top-k (0: none), top-p
/// (1: none) and min-p (0: none) filters. Writes each token, its log-probability under softmax(logits / temperature)
/// (temperature 1 when greedy) and, when `processed` is not NULL, under the filtered distribution it was drawn from.
int ct_sample_rows(ct_tensor logits, double temperature, int64_t top_k, double top_p, double min_p, ct_tensor uniforms,
                   int64_t *tokens, double *log_probabilities, double *processed);
#ifdef __cplusplus
}
#endif
#endif
