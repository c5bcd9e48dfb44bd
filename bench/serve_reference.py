"""The reference server of the serve benchmark: the same JSON API for one image
(`POST /api/predict` with {"pixels": [784 numbers in 0..1 or 0..255]} -> label, probabilities,
top 3) in FastAPI + PyTorch, the way a minimal Python model server is written: one uvicorn
worker, the model loaded once, inference under torch.inference_mode on 2 threads.

The models are the digits presets' architectures (mlp-512-512-d, cnn-32-64) with PyTorch's
initial weights: the work per request is the same as with trained weights.

    /tmp/peersvenv/bin/python bench/serve_reference.py --model mlp --port 8000
"""
import argparse

import torch
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from torch import nn


def build(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(32), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(64), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))


class Pixels(BaseModel):
    pixels: list[float]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "cnn"], required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = build(a.model).eval()
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/api/predict")
    def predict(body: Pixels):
        if len(body.pixels) != 784:
            raise HTTPException(422, f"expected 784 numbers, got {len(body.pixels)}")
        x = torch.tensor(body.pixels, dtype=torch.float32).reshape(1, 1, 28, 28)
        if x.max() > 1:
            x = x / 255
        with torch.inference_mode():
            probabilities = torch.softmax(model(x), dim=1)[0]
        top = torch.topk(probabilities, 3)
        return {"label": int(probabilities.argmax()), "probabilities": probabilities.tolist(),
                "top3": [{"digit": int(d), "probability": float(v)} for v, d in zip(top.values, top.indices)]}

    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
