// Which Philox output word masks which element of a dropout call: the
// "dropout mask layout". A call with 0 < p reserves numel counters from its
// generator starting at `offset` (as every random stream does, so all other
// streams' offsets stay where they were); the layout says how the elements
// use them:
//   kFourWordsPerCounter ("philox4x32_words4", the default for new runs):
//     element i <- word i % 4 of counter offset + i / 4. Each Philox call
//     masks four elements, so the mask costs a quarter of the arithmetic; the
//     counters offset + numel/4 .. offset + numel stay reserved, unused.
//   kWord0PerCounter ("philox4x32_word0", runs saved before the layout was
//     recorded): element i <- word 0 of counter offset + i.
// The setting is process-wide because a run's dropout draws from many
// generators (the default one, each Dropout module's, the LM objective's),
// all of which must agree. The training loop sets it per run: new runs get the
// default and record it in trainer_state.json ("dropout_masks"), a resumed run
// gets what its checkpoint recorded, and a checkpoint without the key gets
// kWord0PerCounter, so old runs keep drawing the masks they drew before.
// Ops read it when they run (forward) and keep it for their backward.
#pragma once
#include <cstdint>
#include <string_view>

namespace tessera {

enum class DropoutMaskLayout : uint8_t { kWord0PerCounter, kFourWordsPerCounter };

DropoutMaskLayout dropout_mask_layout();
void set_dropout_mask_layout(DropoutMaskLayout layout);

// The names trainer_state.json stores; parsing an unknown name throws an Error naming it.
const char* dropout_mask_layout_name(DropoutMaskLayout layout);
DropoutMaskLayout parse_dropout_mask_layout(std::string_view name);

// Sets the layout for its lifetime and restores the previous one after (a
// training run, a test), so one run's layout never leaks into the next.
class DropoutMaskLayoutScope {
 public:
  explicit DropoutMaskLayoutScope(DropoutMaskLayout layout) : saved_(dropout_mask_layout()) {
    set_dropout_mask_layout(layout);
  }
  ~DropoutMaskLayoutScope() { set_dropout_mask_layout(saved_); }
  DropoutMaskLayoutScope(const DropoutMaskLayoutScope&) = delete;
  DropoutMaskLayoutScope& operator=(const DropoutMaskLayoutScope&) = delete;

 private:
  DropoutMaskLayout saved_;
};

}  // namespace tessera
