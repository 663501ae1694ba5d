#!/usr/bin/env python3
"""Image-classification trainer written like a Vertex AI custom-training script, following Sightline's trainer
contract: data and output locations from the AIP_* environment, hyperparameters from SIGHTLINE_ARGS and the
command line. Writes model.onnx, sightline.json and metrics.jsonl into AIP_MODEL_DIR. See README.md here."""
import argparse
import glob
import inspect
import json
import math
import os
import random
import re
import sys
import time
from urllib.parse import unquote, urlparse

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image, ImageOps

SCALE = 1 / 255
BILINEAR = getattr(Image, "Resampling", Image).BILINEAR


class TrainerError(Exception):
    """A problem with the input or environment: reported as one line, exit status 2."""


def log(msg):
    print(f"[train.py] {msg}", file=sys.stderr, flush=True)


def env(name, required=True):
    if required and not os.environ.get(name):
        raise TrainerError(f"environment variable {name} is not set")
    return os.environ.get(name, "")


def flag(s):  # Sightline passes booleans as true/false
    if s.lower() not in ("0", "1", "false", "true"):
        raise argparse.ArgumentTypeError(f"expected true or false, not {s!r}")
    return s.lower() in ("1", "true")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    for name, typ, default in [("epochs", int, 2), ("batch-size", int, 64), ("lr", float, 0.001), ("width", int, 64),
                               ("height", int, 64), ("channels", int, 3), ("threads", int, 2), ("limit", int, 0),
                               ("hflip", flag, False)]:  # limit: first N training images (0 = all)
        aliases = ["--" + name.replace("-", "_")] if "-" in name else []  # --batch_size, as Sightline spells it
        p.add_argument("--" + name, *aliases, type=typ, default=default)
    try:
        extra = json.loads(env("SIGHTLINE_ARGS", required=False) or "{}")
        assert isinstance(extra, dict)
    except (ValueError, AssertionError):
        raise TrainerError("SIGHTLINE_ARGS must be a JSON object")
    # SIGHTLINE_ARGS first: the same option on the command line then wins (argparse keeps the last value).
    argv = [a for k, v in extra.items()
            for a in ("--" + k.replace("_", "-"), v if isinstance(v, str) else json.dumps(v))]
    args, unknown = p.parse_known_args(argv + sys.argv[1:])
    if unknown:
        log(f"ignoring unknown arguments: {unknown}")
    if args.channels not in (1, 3) or min(args.epochs, args.limit) < 0 \
            or min(args.batch_size, args.width, args.height, args.threads) <= 0:
        raise TrainerError(f"invalid arguments: {vars(args)}")
    return args


def local_path(uri):
    """file:// URI, gs://bucket/path (through Cloud Storage FUSE at /gcs, as on Vertex) or a plain path."""
    if uri.startswith("gs://"):
        return "/gcs/" + uri[len("gs://"):]
    return unquote(urlparse(uri).path) if uri.startswith("file://") else uri


def read_jsonl(uri):
    """[(image path, displayName)] from a Vertex image-classification import file, or from all the files a
    wildcard matches (Vertex gives gs://…/training-* for a dataset exported in several files)."""
    pattern, items = local_path(uri), []
    paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if not paths:
        raise TrainerError(f"no file matches {uri}")
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    try:
                        if line.strip():
                            rec = json.loads(line)
                            name = rec["classificationAnnotation"]["displayName"]
                            items.append((local_path(rec["imageGcsUri"]), name))
                    except (ValueError, KeyError, TypeError) as e:
                        raise TrainerError(f"{path}:{n}: not an image-classification record ({e!r})")
        except OSError as e:
            raise TrainerError(f"cannot read {path}: {e}")
    return items


def _srgb_tables():
    """libvips' float32 sRGB tables: decoding for 8 and 16 bits, and the 8-bit encoding it interpolates in."""
    f32 = np.float32
    dec = [np.arange(n, dtype=f32) / f32(n - 1) for n in (256, 65536)]
    lin = [np.where(f <= 0.04045, f / f32(12.92), ((f + f32(0.055)) / f32(1.055)) ** f32(2.4)) for f in dec]
    f = dec[0]
    enc = np.rint(f32(255) * np.where(f <= 0.0031308, f32(12.92) * f, f32(1.055) * f ** f32(1 / 2.4) - f32(0.055)))
    return lin[0], lin[1], np.append(enc, enc[-1]).astype(f32)


LINEAR8, LINEAR16, TO_SRGB = _srgb_tables()


def luminance(lin):
    """Linear RGB (…×3 float32) → uint8, bit-exactly as the platform (libvips "b-w") makes one channel: Rec. 709
    weights in linear light, sRGB-encoded. PIL's convert("L") (gamma-space Rec. 601) differs by up to ~70 levels."""
    f32 = np.float32
    y = f32(0.2126) * lin[..., 0] + f32(0.7152) * lin[..., 1] + f32(0.0722) * lin[..., 2]
    yf = np.clip(y * f32(255), f32(0), f32(255)).astype(f32)
    yi = yf.astype(np.int64)
    return np.rint(TO_SRGB[yi] + (TO_SRGB[yi + 1] - TO_SRGB[yi]) * (yf - yi.astype(f32))).astype(np.uint8)


def load_image(path, args):
    """(uint8 C×H×W, resized?) as the platform preprocesses: EXIF orientation, alpha dropped, resized only if the
    size differs (before the conversion to one channel, as there); greyscale sources stay grey."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode.startswith("I"):  # 16-bit grey: PIL's convert() would clip at 255, the platform scales
                a16 = np.asarray(im).astype(np.int64).clip(0, 65535)
                im = Image.fromarray((a16 >> 8).astype(np.uint8) if args.channels == 3
                                     else luminance(np.repeat(LINEAR16[a16][..., None], 3, -1)))
            grey = args.channels == 1 and im.mode in ("1", "L", "LA")
            im = im.convert("L" if grey else "RGB")
            resized = im.size != (args.width, args.height)
            if resized:
                im = im.resize((args.width, args.height), BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise TrainerError(f"cannot read image {path}: {e}")
    if args.channels == 1 and not grey:
        a = luminance(LINEAR8[a])
    return a.reshape(args.height, args.width, args.channels).transpose(2, 0, 1), resized


def load_split(split, items, classes, args):
    """Images as uint8 N×C×H×W (decoded once, normalised per batch) and their label indices."""
    index = {c: i for i, c in enumerate(classes)}
    bad = [(p, n) for p, n in items if n not in index]
    if bad:
        raise TrainerError(f"{bad[0][0]}: unknown class {bad[0][1]!r} (classes: {classes})")
    x, resized = np.zeros((len(items), args.channels, args.height, args.width), dtype=np.uint8), 0
    for i, (path, _) in enumerate(items):
        x[i], r = load_image(path, args)
        resized += r
    if resized:  # PIL's resampling is not libvips': tens of levels apart when upscaling
        log(f"warning: {resized} of {len(items)} {split} images are not {args.width}×{args.height} and were resized "
            "differently from the platform, whose evaluation of model.onnx may then not match test_accuracy; "
            "pass --width/--height equal to the images' size for exact parity")
    return torch.from_numpy(x), torch.tensor([index[n] for _, n in items], dtype=torch.long)


def normaliser(channels):
    mean, std = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]) if channels == 3 else ([0.5], [0.5])
    m, s = (torch.tensor(v, dtype=torch.float64).view(1, -1, 1, 1) for v in (mean, std))
    # (v × scale − mean) / std in float64, then rounded to float32: as the platform computes it
    return mean, std, lambda u8: ((u8.double() * SCALE - m) / s).float()


class Net(nn.Module):
    def __init__(self, channels, classes, dim=64):
        super().__init__()

        def block(i, o):  # no conv bias: the batch norm after it has one
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        self.body = nn.Sequential(*block(channels, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2),
                                  *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(64, dim), nn.ReLU())
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        features = self.embed(self.body(x))
        return self.head(self.drop(features)), features


def tensor_keys(model):  # num_batches_tracked is not used by the forward pass, so not in the ONNX file
    return [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]


def onnx_tensors(path):
    m = onnx.load(path)
    t = {i.name: np.array(numpy_helper.to_array(i)) for i in m.graph.initializer}
    # The exporter merges initializers equal in value (a fresh BatchNorm's weight and running_var are both
    # ones) and re-creates the dropped names as Identity nodes of the kept one: resolve those aliases.
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in t:
            t[n.output[0]] = t[n.input[0]]
    return t


def warm_start(model, path):
    try:
        tensors = onnx_tensors(path)
    except Exception as e:
        raise TrainerError(f"SIGHTLINE_INIT_MODEL: cannot read ONNX model {path}: {e}")
    state, keys = model.state_dict(), tensor_keys(model)
    loaded = [k for k in keys if k in tensors and tuple(tensors[k].shape) == tuple(state[k].shape)]
    if not loaded:
        raise TrainerError(f"SIGHTLINE_INIT_MODEL: no tensor of {path} matches this model by name and shape "
                           f"(model: {keys[:3]}…, file: {list(tensors)[:3]}…)")
    with torch.no_grad():
        for k in loaded:
            state[k].copy_(torch.from_numpy(tensors[k]))
    skipped = [k for k in keys if k not in loaded]
    log(f"warm start from {path}: loaded {len(loaded)}/{len(keys)} tensors"
        + (f"; not loaded (missing or other shape): {skipped}" if skipped else ""))


def resume(model, opt, ckpt_dir, classes):
    """(epoch, step) of the newest checkpoint, loaded into model and opt; (0, 0) if there is none."""
    found = [(int(m[1]), f) for f in os.listdir(ckpt_dir) if (m := re.fullmatch(r"checkpoint-(\d+)\.pt", f))]
    if not found:
        return 0, 0
    path = os.path.join(ckpt_dir, max(found)[1])
    ck = torch.load(path, weights_only=True)
    meta = json.loads(ck["meta"])
    if meta["classes"] != classes:
        raise TrainerError(f"checkpoint {path} was trained on other classes: {meta['classes']}")
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise TrainerError(f"checkpoint {path} does not fit this model (other --width/--channels?): {e}")
    opt.load_state_dict({"state": ck["optimizer_state"], "param_groups": meta["param_groups"]})
    log(f"resumed from {path} (epoch {meta['epoch']}, step {meta['step']})")
    return meta["epoch"], meta["step"]


def save_checkpoint(model, opt, ckpt_dir, epoch, step, classes):
    # Tensors plus one JSON string, as torch 1.13's weights_only loader cannot read pickled floats (lr, betas).
    osd, path = opt.state_dict(), os.path.join(ckpt_dir, f"checkpoint-{epoch:04d}.pt")
    meta = {"epoch": epoch, "step": step, "classes": classes, "param_groups": osd["param_groups"]}
    torch.save({"meta": json.dumps(meta), "model": model.state_dict(), "optimizer_state": osd["state"]}, path + ".tmp")
    os.replace(path + ".tmp", path)  # never a half-written newest checkpoint


def evaluate(model, x, y, norm, batch_size):
    """(mean cross-entropy, accuracy, logits of the first image), in eval mode."""
    model.eval()
    loss, correct, first = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits, _ = model(norm(x[i:i + batch_size]))
            first = logits[0] if first is None else first
            loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + batch_size]).sum().item()
    return loss / len(x), correct / len(x), first


def export(model, path, args):
    model.eval()
    kwargs = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    # TrainingMode.PRESERVE (model in eval mode) keeps BatchNormalization as a node; the default EVAL mode folds
    # it into the convolutions and renames their weights onnx::Conv_N, which would break warm starts.
    torch.onnx.export(model, torch.zeros(1, args.channels, args.height, args.width), path, opset_version=13,
                      input_names=["pixels"], output_names=["logits", "features"],
                      dynamic_axes={"pixels": {0: "N"}, "logits": {0: "N"}, "features": {0: "N"}},
                      do_constant_folding=False, export_params=True, keep_initializers_as_inputs=False,
                      training=torch.onnx.TrainingMode.PRESERVE, **kwargs)
    onnx.checker.check_model(onnx.load(path))
    tensors, state = onnx_tensors(path), model.state_dict()
    bad = [k for k in tensor_keys(model) if k not in tensors or not np.array_equal(tensors[k], state[k].numpy())]
    if bad:  # SIGHTLINE_INIT_MODEL relies on every tensor keeping its state_dict name
        raise TrainerError(f"exported ONNX does not carry these tensors under their state_dict names: {bad}")


def main():
    t0, args = time.time(), parse_args()
    seed = int(env("SIGHTLINE_SEED", required=False) or 0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    if env("AIP_DATA_FORMAT", required=False) not in ("", "jsonl"):
        raise TrainerError(f"AIP_DATA_FORMAT={os.environ['AIP_DATA_FORMAT']}: only jsonl is supported")
    model_dir = local_path(env("AIP_MODEL_DIR"))
    ckpt_dir = local_path(env("AIP_CHECKPOINT_DIR", required=False))
    tb_dir = local_path(env("AIP_TENSORBOARD_LOG_DIR", required=False))
    for d in filter(None, (model_dir, ckpt_dir, tb_dir)):
        os.makedirs(d, exist_ok=True)
    log(f"run {env('SIGHTLINE_RUN_ID', required=False) or '-'}, seed {seed}, args {vars(args)}")

    train_items = read_jsonl(env("AIP_TRAINING_DATA_URI"))[:args.limit or None]
    val_uri = env("AIP_VALIDATION_DATA_URI", required=False)  # may be unset or empty: no validation metrics
    val_items = read_jsonl(val_uri) if val_uri else []
    test_items = read_jsonl(env("AIP_TEST_DATA_URI"))
    if not train_items or not test_items:
        raise TrainerError("the training and test splits must not be empty")
    try:
        names = env("SIGHTLINE_CLASSES", required=False)
        classes = json.loads(names) if names else sorted({n for _, n in train_items})
        assert isinstance(classes, list) and classes and len(set(classes)) == len(classes)
        assert all(isinstance(c, str) for c in classes)
    except (ValueError, AssertionError):
        raise TrainerError("SIGHTLINE_CLASSES must be a JSON array of distinct class names")
    mean, std, norm = normaliser(args.channels)
    splits = [("training", train_items), ("validation", val_items), ("test", test_items)]
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (load_split(s, it, classes, args) for s, it in splits)
    log(f"{len(classes)} classes; images: train {len(train_x)}, validation {len(val_x)}, test {len(test_x)} "
        f"(decoded in {time.time() - t0:.1f} s)")

    model = Net(args.channels, len(classes))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    epoch, step = resume(model, opt, ckpt_dir, classes) if ckpt_dir else (0, 0)  # Vertex restarts preempted jobs
    if not epoch and env("SIGHTLINE_INIT_MODEL", required=False):
        warm_start(model, local_path(os.environ["SIGHTLINE_INIT_MODEL"]))
    tb = None
    if tb_dir:
        try:
            from torch.utils.tensorboard import SummaryWriter
            tb = SummaryWriter(tb_dir)
        except ImportError:
            log("AIP_TENSORBOARD_LOG_DIR is set but the tensorboard package is not installed: not writing events")
    metrics = open(os.path.join(model_dir, "metrics.jsonl"), "a", encoding="utf-8")

    def record(row):
        row = {k: v for k, v in row.items() if math.isfinite(v)}  # a diverged NaN loss is not JSON
        metrics.write(json.dumps(row) + "\n")
        metrics.flush()
        for k, v in row.items():
            if tb and k not in ("step", "epoch"):
                tb.add_scalar(k, v, row["step"])
        return row

    while epoch < args.epochs:
        epoch += 1
        torch.manual_seed(seed * 100003 + epoch)  # shuffle, flips, dropout: a resumed run continues identically
        model.train()
        perm, total, correct, t1 = torch.randperm(len(train_x)), 0.0, 0, time.time()
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            x, y = train_x[idx], train_y[idx]
            if args.hflip:
                flip = torch.rand(len(idx)) < 0.5
                x[flip] = x[flip].flip(-1)
            logits, _ = model(norm(x))
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        row = {"step": step, "epoch": epoch, "loss": total / len(perm), "accuracy": correct / len(perm)}
        if len(val_x):
            row["val_loss"], row["val_accuracy"], _ = evaluate(model, val_x, val_y, norm, args.batch_size)
        record(row)
        log(f"epoch {epoch}/{args.epochs} ({time.time() - t1:.1f} s): {json.dumps(row)}")
        if ckpt_dir:
            save_checkpoint(model, opt, ckpt_dir, epoch, step, classes)

    export(model, os.path.join(model_dir, "model.onnx"), args)
    card = {"input": {"name": "pixels", "layout": "NCHW", "width": args.width, "height": args.height,
                      "channels": args.channels, "scale": SCALE, "mean": mean, "std": std},
            "output": {"name": "logits", "kind": "logits"}, "embedding": "features"}
    with open(os.path.join(model_dir, "sightline.json"), "w", encoding="utf-8") as f:
        json.dump(card, f)
    test_loss, test_acc, first = evaluate(model, test_x, test_y, norm, args.batch_size)
    log(f"logits of the first test image {test_items[0][0]}: {first.tolist()}")
    row = {"epoch": epoch, "step": step, "test_accuracy": test_acc, "test_loss": test_loss}
    print(json.dumps(record(row)), flush=True)
    metrics.close()
    if tb:
        tb.close()
    log(f"wrote model.onnx, sightline.json and metrics.jsonl to {model_dir} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    try:
        main()
    except TrainerError as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        sys.exit(2)
