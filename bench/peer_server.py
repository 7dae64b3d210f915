"""The server a user would write in 20 lines: FastAPI + ultralytics in one process (bench/serving.py's peer).

    PEER_WEIGHTS=model.pt uvicorn bench.peer_server:app --port 8001 --workers 1
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from fastapi import FastAPI, File, UploadFile
from ultralytics import YOLO

app = FastAPI()
model = YOLO(os.environ["PEER_WEIGHTS"])


@app.post("/infer/{model_id}")
async def infer(model_id: str, file: UploadFile = File(...), imgsz: int = 640) -> dict:  # async: one predict at a time
    image = cv2.imdecode(np.frombuffer(await file.read(), np.uint8), cv2.IMREAD_COLOR)
    result = model.predict(image, imgsz=imgsz, conf=0.25, verbose=False, device="cpu")[0]
    boxes, corners = result.boxes, ("x1", "y1", "x2", "y2")
    return {"model_id": model_id, "detections": [
        {"class_name": result.names[int(c)], "confidence": float(p), "bbox": dict(zip(corners, b, strict=True))}
        for b, p, c in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist(), strict=True)]}
