"""Exports torchvision's ResNet-18 (10 classes, the RGB Fashion garments; the 1000-way head would change the
compute by under 0.1 %) with seeded random weights for bench/serve.ts --model resnet18: the ONNX file
Sightline and the raw pipeline run, and the state_dict the FastAPI + PyTorch peer loads, so all three use
identical weights. No hub download (weights=None).
Run: python3 resnet18_export.py OUT_DIR [SEED] [CLASSES]  ->  OUT_DIR/resnet18.onnx, OUT_DIR/resnet18.pt, one JSON line"""
import json, os, sys, torch, torchvision

out = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
classes = int(sys.argv[3]) if len(sys.argv) > 3 else 10
os.makedirs(out, exist_ok=True)
torch.manual_seed(seed)
model = torchvision.models.resnet18(weights=None, num_classes=classes)
# Random init leaves BatchNorm at mean 0 / var 1, so activations grow layer by layer; a few batches of random
# images in train mode (cumulative averages: momentum None) give the running statistics plausible values.
for layer in model.modules():
    if isinstance(layer, torch.nn.BatchNorm2d):
        layer.momentum = None
with torch.no_grad():
    model.train()
    for _ in range(4):
        model(torch.randn(8, 3, 224, 224))
model.eval()
torch.save(model.state_dict(), os.path.join(out, "resnet18.pt"))
onnx_path = os.path.join(out, "resnet18.onnx")
torch.onnx.export(
    model,
    torch.randn(1, 3, 224, 224),
    onnx_path,
    input_names=["input"],
    output_names=["logits"],
    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    opset_version=13,
    do_constant_folding=True,
)
params = sum(p.numel() for p in model.parameters())
print(json.dumps({"onnx": onnx_path, "state_dict": os.path.join(out, "resnet18.pt"), "input": "input", "output": "logits",
                  "opset": 13, "classes": model.fc.out_features, "parameters": params, "seed": seed}))
