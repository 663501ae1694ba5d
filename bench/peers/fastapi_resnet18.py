"""Peer for bench/serve.ts --model resnet18: the seed-style FastAPI + PyTorch server of ../../../shared/peers/
fastapi_serve.py, adapted to a 224x224 RGB ResNet-18 (torchvision) with ImageNet normalisation, loading the
state_dict resnet18_export.py wrote (the same weights as the ONNX file Sightline serves).
POST /predict (multipart 'file'), GET /health. WORKERS uvicorn worker processes (default one per core) of one
torch thread each, like Sightline's workers of one ONNX Runtime thread: on a shared machine one process of two
torch threads stalls (OpenMP's threads wait on each other while other processes hold the cores).
Run: python3 fastapi_resnet18.py PORT WEIGHTS.pt [WORKERS [THREADS]]"""
import io, os, sys, torch, torchvision, numpy as np, uvicorn
from fastapi import FastAPI, UploadFile, File, HTTPException
from PIL import Image

# Worker processes import this module afresh: they get their settings from the environment.
WEIGHTS = os.environ.get("PEER_WEIGHTS") or sys.argv[2]
torch.set_num_threads(int(os.environ.get("PEER_THREADS", "1")))
state = torch.load(WEIGHTS)
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
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count() or 1
    os.environ["PEER_WEIGHTS"] = WEIGHTS
    os.environ["PEER_THREADS"] = sys.argv[4] if len(sys.argv) > 4 else "1"
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    app_ref = "fastapi_resnet18:app" if workers > 1 else app
    uvicorn.run(app_ref, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", workers=workers)
