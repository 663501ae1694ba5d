"""Peer for bench/serve.ts --model resnet18: the seed-style FastAPI + PyTorch server of ../../../shared/peers/
fastapi_serve.py, adapted to a 224x224 RGB ResNet-18 (torchvision) with ImageNet normalisation, loading the
state_dict resnet18_export.py wrote (the same weights as the ONNX file Sightline serves).
POST /predict (multipart 'file'), GET /health. WORKERS server processes (default one per core) of one torch
thread each, like Sightline's workers of one ONNX Runtime thread: on a shared machine one process of two torch
threads stalls (OpenMP's threads wait on each other while other processes hold the cores). Each worker listens on
its own SO_REUSEPORT socket, so the kernel spreads connections over them: with uvicorn's --workers (one shared
socket) the first worker to wake accepts every connection that arrived together, and 8 connections opened at once
often all land on one worker, leaving the other core idle.
Run: python3 fastapi_resnet18.py PORT WEIGHTS.pt [WORKERS [THREADS]]"""
import os, signal, subprocess, sys

if __name__ == "__main__" and not os.environ.get("PEER_WORKER"):
    # The supervisor: starts the workers (this script again) and stops them on SIGTERM; it never imports torch.
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count() or 1
    env = {**os.environ, "PEER_WORKER": "1", "PEER_WEIGHTS": sys.argv[2], "PEER_THREADS": sys.argv[4] if len(sys.argv) > 4 else "1"}
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), sys.argv[1]], env=env) for _ in range(workers)]
    def stop(*_):
        for p in procs: p.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.exit(max(p.wait() for p in procs))

import io, socket, torch, torchvision, numpy as np, uvicorn
from fastapi import FastAPI, UploadFile, File, HTTPException
from PIL import Image
torch.set_num_threads(int(os.environ.get("PEER_THREADS", "1")))
state = torch.load(os.environ["PEER_WEIGHTS"])
m = torchvision.models.resnet18(weights=None, num_classes=state["fc.weight"].shape[0])
m.load_state_dict(state)
m.eval()
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
app = FastAPI()
@app.get("/health")
def health(): return {"status": "ok", "threads": torch.get_num_threads(), "pid": os.getpid()}
@app.post("/predict")
async def predict(file: UploadFile = File(...)):
    try:
        img = Image.open(io.BytesIO(await file.read())).convert("RGB").resize((224, 224))
    except Exception:
        raise HTTPException(400, "invalid image")
    x = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
    x = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        p = torch.softmax(m(x), 1)[0]
    return {"label": int(p.argmax()), "confidence": float(p.max())}
if __name__ == "__main__":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
