// What a path on disk holds: the one description of every model folder Tessera
// reads, and the one function that tells them apart. `tessera eval`, generate,
// serve, cost and finetune (its --base, and eval --base) all start here.
//
// A checkpoint folder holds config.json beside its weights. Which kind it is
// comes from config.json alone:
//
//   Tessera checkpoints: config.json has an integer "format_version" (1) and a
//   "task"; the files are written by the command named.
//     "language_model"           tessera pretrain (GPT): model.safetensors (GPT
//                                state_dict, HF GPT-2 names), tokenizer.json;
//                                config "model" (GPTConfig JSON), "step", "recipe",
//                                "tokenizer" {file, fingerprint}, "data" {dir, meta}.
//                                A config with no "task" but a "model" object is
//                                read as this kind too (hand-made GPT folders).
//     "masked_language_model"    tessera pretrain --objective mlm (BERT): the same
//                                files, "model" is a BertConfig and "mlm" holds
//                                mask_prob, replace_mask, replace_random, seq_len.
//     "classification",          tessera train: model.safetensors, config "step",
//     "regression"               "recipe" (its "model" section rebuilds the
//                                network), "input_shape", "num_outputs",
//                                "class_names", "data_state".
//     "sequence_classification"  tessera finetune (its model/ and merged/ folders):
//                                classifier.safetensors (all weights for mode full,
//                                the head for frozen, adapters + head for lora:
//                                classifier.h's stored_in_checkpoint), tokenizer.json;
//                                config "backbone" {kind, config, pooler, base,
//                                base_format, fingerprint, from_scratch}, "head"
//                                {pooling, dropout}, "labels", "max_len", "mode",
//                                "lora" {rank, alpha, dropout, targets, layers} | null,
//                                "data" {format, text_column, label_column}, "recipe".
//   Training step folders (train and pretrain; see folders.h) also hold
//   optimizer.bin, scheduler.bin and trainer_state.json for --resume.
//
//   Hugging Face folders: config.json without "format_version", with
//     "model_type": "gpt2"   model.safetensors (GPT2LMHeadModel / GPT2Model
//                            names), tokenizer.json or encoder.json + vocab.bpe
//                            (models/hf_gpt2.h converts);
//     "model_type": "bert"   model.safetensors, vocab.txt (models/bert.h's
//                            load_hf_bert converts; a BERT-family base for finetune).
//
// A path may also name a folder around a checkpoint:
//   - a fine-tuning run folder (--out of tessera finetune): model/ is read;
//   - a training run folder (--out of tessera train or pretrain): the step that
//     its summary.json names as "tested_checkpoint_step" (the best one under
//     early stopping) when that step is still there, else the newest
//     checkpoints/step-N/.
// A checkpoint's tokenizer may also lie in the run folder above checkpoints/.
//
// A file (not a folder) is a GGUF model (llama.cpp's format) when its name ends
// in .gguf or it starts with the GGUF magic: checkpoint/gguf_model.h reads it.
#pragma once
#include <cstdint>
#include <string>

namespace tessera::checkpoint {

// What the weights are.
enum class Format {
  TesseraGPT,         // task "language_model"
  TesseraMaskedLM,    // task "masked_language_model"
  TesseraClassifier,  // task "sequence_classification"
  TesseraTrainModel,  // task "classification" | "regression"
  HfGPT2,             // model_type "gpt2"
  HfBert,             // model_type "bert"
  Gguf,               // a llama.cpp GGUF model file (llama or gpt2 architecture)
};

// What the path named.
enum class Layout {
  CheckpointFolder,  // config.json right there (an HF folder, model/, merged/, ...)
  StepFolder,        // config.json right there, inside <run>/checkpoints/
  RunFolder,         // a folder around it: its model/ or a checkpoints/step-N/
  ModelFile,         // one file holding everything (GGUF); dir is that file
};

struct Found {
  std::string path;         // as given
  Layout layout = Layout::CheckpointFolder;
  Format format = Format::TesseraGPT;
  std::string dir;          // the folder holding config.json and the weights (a GGUF: the file)
  std::string run_dir;      // for a step folder, the run folder above checkpoints/; else ""
  std::string task;         // config.json's "task" ("language_model" for a task-less GPT
                            // folder); "" for Hugging Face folders
  int64_t step = -1;        // config.json's "step", -1 when it has none
  std::string config_json;  // the text of dir/config.json ("" for a GGUF file)
};

// Classifies `path` as above. Errors name the path or file: not found, a file
// that is neither a folder nor a GGUF file, a folder with no checkpoint in it,
// config.json not JSON, a Tessera config without "format_version" (or with an
// unsupported one), an unknown "task" or "model_type".
Found inspect(const std::string& path);

// "a Tessera GPT checkpoint (tessera pretrain)", ...: for error messages.
std::string describe(Format format);
// "tessera-gpt", "tessera-mlm", "tessera-classifier", "tessera-train", "hf-gpt2", "hf-bert", "gguf".
std::string format_name(Format format);

}  // namespace tessera::checkpoint
