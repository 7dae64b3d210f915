"""The imgseg dialect's domain logic: screenshot ingest (SAM + OCR + component classifier),
SAM / OCR / ResNet predictions and component-classifier training. No fastapi, no ray imports."""
