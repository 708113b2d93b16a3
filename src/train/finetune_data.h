// Labeled text as a fine-tuning run feeds it to the classifier
// (train/finetune.h): the label set, token ids per example, and the
// length-bucketed batch order of one epoch.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/data/text_table.h"
#include "tessera/text/tokenizer.h"

namespace tessera::train {

// The label set of the training rows: numeric order when every label is an
// integer ("2" before "10"), else byte order.
std::vector<std::string> label_set(const std::vector<data::TextExample>& rows);

// Examples as token ids (encode_example) with their label ids.
struct EncodedExamples {
  std::vector<std::vector<int32_t>> ids;
  std::vector<int64_t> y;
};

// A label outside `label_id` or a text that encodes to nothing is an error
// naming file:line.
EncodedExamples encode_rows(const std::vector<data::TextExample>& rows, const std::map<std::string, int64_t>& label_id,
                            const std::vector<std::string>& labels, const text::Tokenizer& tok,
                            const std::string& kind, int64_t max_len, const std::string& file);

// One epoch's batches (indices into ids): shuffled, sorted by length within
// chunks of 100 batches, cut into batches, and the batches shuffled: little
// padding, still random (examples/finetune/torch_finetune.py does the same).
// Draws from `gen` only, so the order depends on (ids, batch, gen's state).
std::vector<std::vector<size_t>> bucketed_batches(const std::vector<std::vector<int32_t>>& ids, int64_t batch,
                                                  Generator& gen);

}  // namespace tessera::train
