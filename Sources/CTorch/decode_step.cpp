// decode_step.cpp — the implementation of ctorch_decode.h: the same arithmetic as the Llama layers of
// Sources/LanguageModels (RMSNorm in float32, half-split rotary positions, grouped-query attention over the cache,
// SwiGLU), written as loops over the rows of one step. The products use the skinny-product kernel of
// skinny_linear.cpp through ATen-free entry points; everything else is plain loops the compiler vectorises.
#include "ctorch_decode.h"
#include "internal.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <atomic>
#include <cmath>
#include <vector>

namespace ctorch {
// y [rows, out] = x [rows, in] · w [out, in]ᵀ (+ bias) on raw float32 buffers (skinny_linear.cpp); false when the CPU
// lacks the instructions.
bool skinny_product(const float *x, const float *w, const float *bias, float *y, int64_t rows, int64_t in, int64_t out);
// Σ a·b and y += a·x over n floats (AVX2 where the CPU has it; skinny_linear.cpp).
float dot(const float *a, const float *b, int64_t n);
void axpy(float *y, float a, const float *x, int64_t n);
}

namespace {

std::atomic<int64_t> decode_calls{0};

const float *data(ct_tensor t) { return t ? t->t.const_data_ptr<float>() : nullptr; }

bool usable(ct_tensor t, std::initializer_list<int64_t> sizes) {
  if (!t) return false;
  const at::Tensor &x = t->t;
  return x.scalar_type() == at::kFloat && x.device().is_cpu() && x.is_contiguous() && x.sizes().equals(sizes);
}

bool optional_usable(ct_tensor t, std::initializer_list<int64_t> sizes) { return !t || usable(t, sizes); }

// out = weight · x / √(mean(x²) + eps) over n values.
void rms_norm(const float *x, const float *weight, float *out, int64_t n, double eps) {
  const float sum = ctorch::dot(x, x, n);
  const float inverse = 1.0f / std::sqrt(sum / static_cast<float>(n) + static_cast<float>(eps));
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inverse);
}

// In place: x·cos + rotate_half(x)·sin for one head of `d` values at `position`.
void rotate(float *x, const float *inverse_frequencies, int64_t d, float position) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float angle = position * inverse_frequencies[i];
    const float c = std::cos(angle), s = std::sin(angle);
    const float a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = b * c + a * s;
  }
}

at::Tensor decode_step(const ct_decode_shape &shape, const ct_decode_layer *layers, ct_tensor embedding,
                       ct_tensor final_norm, ct_tensor output, ct_tensor inverse_frequencies, const int64_t *tokens,
                       const int64_t *positions, const int64_t *first_key, int64_t rows, int64_t offset) {
  const int64_t H = shape.hidden, heads = shape.heads, kv = shape.kv_heads, D = shape.head_dim, I = shape.intermediate,
                V = shape.vocabulary;
  TORCH_CHECK(rows >= 1 && rows <= 16, "the decoding kernel takes 1 to 16 rows, got ", rows);
  TORCH_CHECK(kv > 0 && heads % kv == 0 && D % 2 == 0, "decoding kernel: unsupported head layout");
  TORCH_CHECK(usable(embedding, {V, H}) && usable(final_norm, {H}) && usable(output, {V, H}) &&
                  usable(inverse_frequencies, {D / 2}),
              "decoding kernel: embedding, final norm, output or rotary table not float32 contiguous of the model's shape");
  for (int64_t l = 0; l < shape.layers; ++l) {
    const ct_decode_layer &w = layers[l];
    TORCH_CHECK(usable(w.input_norm, {H}) && usable(w.q_weight, {heads * D, H}) && usable(w.k_weight, {kv * D, H}) &&
                    usable(w.v_weight, {kv * D, H}) && usable(w.o_weight, {H, heads * D}) && usable(w.post_norm, {H}) &&
                    usable(w.gate_weight, {I, H}) && usable(w.up_weight, {I, H}) && usable(w.down_weight, {H, I}) &&
                    optional_usable(w.q_bias, {heads * D}) && optional_usable(w.k_bias, {kv * D}) &&
                    optional_usable(w.v_bias, {kv * D}) && optional_usable(w.o_bias, {H}) &&
                    (!shape.query_key_norm || (usable(w.q_norm, {D}) && usable(w.k_norm, {D}))),
                "decoding kernel: layer ", l, " has a tensor that is not float32 contiguous of the model's shape");
    TORCH_CHECK(w.cache_keys && w.cache_values && w.cache_keys->t.scalar_type() == at::kFloat &&
                    w.cache_keys->t.is_contiguous() && w.cache_values->t.is_contiguous() && w.cache_keys->t.dim() == 4 &&
                    w.cache_keys->t.size(0) == rows && w.cache_keys->t.size(1) == kv && w.cache_keys->t.size(3) == D &&
                    w.cache_values->t.sizes().equals(w.cache_keys->t.sizes()) && offset < w.cache_keys->t.size(2),
                "decoding kernel: layer ", l, "'s cache does not fit");
  }
  for (int64_t r = 0; r < rows; ++r) {
    TORCH_CHECK(tokens[r] >= 0 && tokens[r] < V, "token id ", tokens[r], " outside the vocabulary of ", V);
    TORCH_CHECK(first_key[r] >= 0 && first_key[r] <= offset, "first key column out of range");
  }
  const int64_t capacity = layers[0].cache_keys->t.size(2), keys = offset + 1, groups = heads / kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::vector<float> h(rows * H), n(rows * H), q(rows * heads * D), k(rows * kv * D), v(rows * kv * D),
      attended(rows * heads * D), projected(rows * H), gate(rows * I), up(rows * I), scores(keys);
  const float *table = data(embedding);
  for (int64_t r = 0; r < rows; ++r) std::copy(table + tokens[r] * H, table + (tokens[r] + 1) * H, h.data() + r * H);
  const float *inverse = data(inverse_frequencies);

  for (int64_t l = 0; l < shape.layers; ++l) {
    const ct_decode_layer &w = layers[l];
    for (int64_t r = 0; r < rows; ++r) rms_norm(h.data() + r * H, data(w.input_norm), n.data() + r * H, H, shape.norm_eps);
    ctorch::skinny_product(n.data(), data(w.q_weight), data(w.q_bias), q.data(), rows, H, heads * D);
    ctorch::skinny_product(n.data(), data(w.k_weight), data(w.k_bias), k.data(), rows, H, kv * D);
    ctorch::skinny_product(n.data(), data(w.v_weight), data(w.v_bias), v.data(), rows, H, kv * D);
    float *cache_k = w.cache_keys->t.mutable_data_ptr<float>(), *cache_v = w.cache_values->t.mutable_data_ptr<float>();
    for (int64_t r = 0; r < rows; ++r) {
      const float position = static_cast<float>(positions[r]);
      for (int64_t head = 0; head < heads; ++head) {
        float *x = q.data() + (r * heads + head) * D;
        if (shape.query_key_norm) rms_norm(x, data(w.q_norm), x, D, shape.norm_eps);
        rotate(x, inverse, D, position);
      }
      for (int64_t g = 0; g < kv; ++g) {
        float *x = k.data() + (r * kv + g) * D;
        if (shape.query_key_norm) rms_norm(x, data(w.k_norm), x, D, shape.norm_eps);
        rotate(x, inverse, D, position);
        const int64_t slot = ((r * kv + g) * capacity + offset) * D;
        std::copy(x, x + D, cache_k + slot);
        std::copy(v.data() + (r * kv + g) * D, v.data() + (r * kv + g + 1) * D, cache_v + slot);
      }
      // Attention of each query head over the row's real keys [first_key, offset].
      for (int64_t head = 0; head < heads; ++head) {
        const int64_t g = head / groups;
        const float *query = q.data() + (r * heads + head) * D;
        const float *key_base = cache_k + (r * kv + g) * capacity * D, *value_base = cache_v + (r * kv + g) * capacity * D;
        float largest = -INFINITY;
        for (int64_t s = first_key[r]; s < keys; ++s) {
          scores[s] = ctorch::dot(query, key_base + s * D, D) * scale;
          largest = std::max(largest, scores[s]);
        }
        float total = 0;
        for (int64_t s = first_key[r]; s < keys; ++s) {
          scores[s] = std::exp(scores[s] - largest);
          total += scores[s];
        }
        float *out = attended.data() + (r * heads + head) * D;
        std::fill(out, out + D, 0.0f);
        for (int64_t s = first_key[r]; s < keys; ++s) ctorch::axpy(out, scores[s] / total, value_base + s * D, D);
      }
    }
    ctorch::skinny_product(attended.data(), data(w.o_weight), data(w.o_bias), projected.data(), rows, heads * D, H);
    for (int64_t i = 0; i < rows * H; ++i) h[i] += projected[i];
    for (int64_t r = 0; r < rows; ++r) rms_norm(h.data() + r * H, data(w.post_norm), n.data() + r * H, H, shape.norm_eps);
    ctorch::skinny_product(n.data(), data(w.gate_weight), nullptr, gate.data(), rows, H, I);
    ctorch::skinny_product(n.data(), data(w.up_weight), nullptr, up.data(), rows, H, I);
    for (int64_t i = 0; i < rows * I; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    ctorch::skinny_product(gate.data(), data(w.down_weight), nullptr, projected.data(), rows, I, H);
    for (int64_t i = 0; i < rows * H; ++i) h[i] += projected[i];
  }
  for (int64_t r = 0; r < rows; ++r) rms_norm(h.data() + r * H, data(final_norm), n.data() + r * H, H, shape.norm_eps);
  at::Tensor logits = at::empty({rows, V}, at::TensorOptions().dtype(at::kFloat));
  ctorch::skinny_product(n.data(), data(output), nullptr, logits.mutable_data_ptr<float>(), rows, H, V);
  decode_calls.fetch_add(1, std::memory_order_relaxed);
  return logits;
}

}  // namespace

extern "C" {

ct_tensor ct_decode_step(const ct_decode_shape *shape, const ct_decode_layer *layers, ct_tensor embedding,
                         ct_tensor final_norm, ct_tensor output, ct_tensor inverse_frequencies, const int64_t *tokens,
                         const int64_t *positions, const int64_t *first_key, int64_t rows, int64_t offset) {
  CT_TENSOR(decode_step(*shape, layers, embedding, final_norm, output, inverse_frequencies, tokens, positions, first_key,
                        rows, offset))
}

int64_t ct_decode_step_calls(void) { return decode_calls.load(); }

}  // extern "C"

namespace {

void sample_rows(const at::Tensor &logits, double temperature, int64_t top_k, double top_p, double min_p,
                 const c10::optional<at::Tensor> &uniforms, int64_t *tokens, double *log_probabilities, double *processed) {
  TORCH_CHECK(logits.dim() == 2 && logits.scalar_type() == at::kFloat && logits.is_contiguous() && logits.device().is_cpu(),
              "sampling takes float32 contiguous logits [rows, vocabulary], got ", logits.sizes());
  const int64_t rows = logits.size(0), V = logits.size(1);
  const bool greedy = temperature == 0;
  TORCH_CHECK(greedy || (uniforms && uniforms->scalar_type() == at::kFloat && uniforms->numel() == rows &&
                         uniforms->is_contiguous()), "sampling needs one float32 uniform per row");
  const float *all = logits.const_data_ptr<float>();
  const float *u = greedy ? nullptr : uniforms->const_data_ptr<float>();
  std::vector<float> scores(V), filtered_scores(V), probabilities(V);
  std::vector<int64_t> order(V);
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = all + r * V;
    // softmax(x / T) once (T = 1 for greedy decoding): its log-normaliser gives the token's log-probability, and
    // without filters its probabilities are the ones drawn from.
    const float t = greedy ? 1.0f : static_cast<float>(temperature);
    float largest = -INFINITY;
    for (int64_t i = 0; i < V; ++i) largest = std::max(largest, scores[i] = x[i] / t);
    float total = 0;
    for (int64_t i = 0; i < V; ++i) total += (probabilities[i] = std::exp(scores[i] - largest));
    const float log_normaliser = largest + std::log(total);
    int64_t token = 0;
    if (greedy) {
      for (int64_t i = 1; i < V; ++i) if (x[i] > x[token]) token = i;
      tokens[r] = token;
      log_probabilities[r] = scores[token] - log_normaliser;
      if (processed) processed[r] = log_probabilities[r];
      continue;
    }
    for (int64_t i = 0; i < V; ++i) probabilities[i] /= total;
    const bool filtered = (top_k > 0 && top_k < V) || top_p < 1 || min_p > 0;
    std::vector<float> &kept = filtered ? filtered_scores : scores;
    if (filtered) std::copy(scores.begin(), scores.end(), filtered_scores.begin());
    auto softmax = [&]() {
      float best = -INFINITY;
      for (int64_t i = 0; i < V; ++i) best = std::max(best, kept[i]);
      float sum = 0;
      for (int64_t i = 0; i < V; ++i) sum += (probabilities[i] = std::exp(kept[i] - best));
      for (int64_t i = 0; i < V; ++i) probabilities[i] /= sum;
      return best + std::log(sum);
    };
    if (top_k > 0 && top_k < V) {
      std::vector<float> copy(kept);
      std::nth_element(copy.begin(), copy.begin() + (top_k - 1), copy.end(), std::greater<float>());
      const float threshold = copy[top_k - 1];
      for (int64_t i = 0; i < V; ++i) if (kept[i] < threshold) kept[i] = -INFINITY;
      softmax();
    }
    if (top_p < 1) {
      // Ascending order: drop the low tail whose cumulative probability stays within 1 − p; keep the best token.
      for (int64_t i = 0; i < V; ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return kept[a] < kept[b]; });
      float cumulative = 0;
      for (int64_t j = 0; j + 1 < V; ++j) {
        cumulative += probabilities[order[j]];
        if (cumulative <= 1 - top_p) kept[order[j]] = -INFINITY;
      }
      softmax();
    }
    if (min_p > 0) {
      float best = 0;
      for (int64_t i = 0; i < V; ++i) best = std::max(best, probabilities[i]);
      const float threshold = best * static_cast<float>(min_p);
      for (int64_t i = 0; i < V; ++i) if (probabilities[i] < threshold) kept[i] = -INFINITY;
      softmax();
    }
    const float processed_normaliser = filtered ? softmax() : log_normaliser;
    float cumulative = 0;
    for (int64_t i = 0; i < V; ++i) cumulative += probabilities[i];
    const float target = u[r] * cumulative;
    float running = 0;
    int64_t below = 0;
    for (int64_t i = 0; i < V; ++i) {
      running += probabilities[i];
      if (running <= target) ++below;
    }
    token = std::min(below, V - 1);
    tokens[r] = token;
    log_probabilities[r] = scores[token] - log_normaliser;
    if (processed) processed[r] = kept[token] - processed_normaliser;
  }
}

}  // namespace

extern "C" int ct_sample_rows(ct_tensor logits, double temperature, int64_t top_k, double top_p, double min_p,
                              ct_tensor uniforms, int64_t *tokens, double *log_probabilities, double *processed) {
  CT_STATUS(sample_rows(logits->t, temperature, top_k, top_p, min_p, ctorch::abi::opt_tensor(uniforms), tokens, log_probabilities, processed))
}
