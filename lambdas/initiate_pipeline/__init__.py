"""The pipeline's first step: run id, dataset, code versions, names, overlap guard."""
