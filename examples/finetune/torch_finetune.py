#!/usr/bin/env python3
"""The PyTorch + transformers side of the SST-2 fine-tuning comparison.

Fine-tunes a Hugging Face BERT folder (config.json + model.safetensors +
vocab.txt) as a sequence classifier with the hyperparameters `tessera
finetune` uses (examples/finetune/*.json): masked mean pooling (or the [CLS]
pooler), dropout, a linear head, AdamW with linear warmup then linear decay,
length-bucketed batches, and reports dev accuracy and seconds per epoch.

  python examples/finetune/torch_finetune.py --model DIR --train train.tsv --dev dev.tsv \
      --max-train 20000 --epochs 1 --lr 1e-4 --batch-size 32 --threads 2 --out torch_summary.json
"""
import argparse, csv, json, math, random, sys, time

import torch
from transformers import AutoModel, AutoTokenizer


def read_tsv(path, text_col, label_col):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r[text_col], r[label_col]) for r in rows]


def bucketed_batches(lengths, batch, rng, chunk=100):
    """Shuffle, sort each chunk of `chunk` batches by length, cut batches, shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    span = chunk * batch
    for s in range(0, len(order), span):
        part = sorted(order[s:s + span], key=lambda i: lengths[i])
        batches += [part[i:i + batch] for i in range(0, len(part), batch)]
    rng.shuffle(batches)
    return batches


class Classifier(torch.nn.Module):
    def __init__(self, backbone, num_labels, pooling, dropout):
        super().__init__()
        self.backbone, self.pooling = backbone, pooling
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(backbone.config.hidden_size, num_labels)

    def forward(self, ids, mask):
        out = self.backbone(input_ids=ids, attention_mask=mask)
        h = out.last_hidden_state
        if self.pooling == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        else:  # cls: the pooler (dense + tanh over [CLS]), as BertForSequenceClassification
            pooled = out.pooler_output
        return self.head(self.dropout(pooled))


def pad(seqs):
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--text-column", default="sentence")
    ap.add_argument("--label-column", default="label")
    ap.add_argument("--max-train", type=int, default=0, help="first N training rows (0: all)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=float, default=0.1, help="fraction of steps")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)

    tok = AutoTokenizer.from_pretrained(a.model)
    train = read_tsv(a.train, a.text_column, a.label_column)
    if a.max_train:
        train = train[:a.max_train]
    dev = read_tsv(a.dev, a.text_column, a.label_column)
    labels = sorted({l for _, l in train})
    lid = {l: i for i, l in enumerate(labels)}
    enc = lambda rows: [tok(t, truncation=True, max_length=a.max_len)["input_ids"] for t, _ in rows]
    tr_ids, dv_ids = enc(train), enc(dev)
    tr_y = [lid[l] for _, l in train]
    dv_y = [lid[l] for _, l in dev]

    model = Classifier(AutoModel.from_pretrained(a.model), len(labels), a.pooling, a.dropout)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "LayerNorm" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    steps_per_epoch = math.ceil(len(tr_ids) / a.batch_size)
    total = steps_per_epoch * a.epochs
    warm = int(a.warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))  # HF's linear schedule, as tessera's WarmupLinearLR

    def evaluate():
        model.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, len(dv_ids), 64):
                ids, mask = pad(dv_ids[s:s + 64])
                pred = model(ids, mask).argmax(-1)
                correct += sum(int(p == y) for p, y in zip(pred.tolist(), dv_y[s:s + 64]))
        model.train()
        return correct / len(dv_ids)

    lengths = [len(s) for s in tr_ids]
    epoch_times, accs = [], []
    model.train()
    for ep in range(a.epochs):
        t0 = time.time()
        for step, b in enumerate(bucketed_batches(lengths, a.batch_size, rng)):
            ids, mask = pad([tr_ids[i] for i in b])
            loss = torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([tr_y[i] for i in b]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 100 == 0:
                print(f"epoch {ep} step {step}/{steps_per_epoch} loss {loss.item():.4f} "
                      f"{time.time() - t0:.0f}s", flush=True)
        epoch_times.append(time.time() - t0)
        accs.append(evaluate())
        print(f"epoch {ep}: dev accuracy {accs[-1]:.4f}, {epoch_times[-1]:.1f} s", flush=True)
    summary = {"framework": f"torch {torch.__version__}", "dev_accuracy": accs[-1], "dev_accuracy_per_epoch": accs,
               "seconds_per_epoch": epoch_times, "train_examples": len(tr_ids), "threads": a.threads,
               "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
               "hyperparameters": vars(a)}
    print(json.dumps(summary, indent=2))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
