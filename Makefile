# The exact commands that produced the shipped models (edge_runtime/models/).
# Long CPU runs: every epoch is checkpointed, so re-running a target resumes where it stopped.
DATA ?= ../shared/datasets/fer2013.zip
RUNS ?= runs
MODELS := edge_runtime/models
EDGE_FER ?= edge-fer
VIDEO ?= ../shared/samples/test.mp4
# exported family models to benchmark beside the shipped ones: .onnx (fp32/int8 siblings are
# picked up) or .keras paths, e.g. FAMILY="$$(ls runs/family/*.int8.onnx)"
FAMILY ?=

.PHONY: models happy_sad fer7 bench results

models: happy_sad fer7

happy_sad:
	$(EDGE_FER) train --data $(DATA) --arch b --classes happy,sad --epochs 20 --label-smoothing 0.1 --seed 0 --out $(RUNS)/b_happy_sad --resume
	$(EDGE_FER) export $(RUNS)/b_happy_sad/model.keras --calibration $(DATA) --out $(MODELS) --name happy_sad --tta --overwrite

fer7:
	$(EDGE_FER) train --data $(DATA) --arch a --classes all --epochs 30 --label-smoothing 0.1 --seed 0 --out $(RUNS)/a_fer7 --resume
	$(EDGE_FER) export $(RUNS)/a_fer7/model.keras --calibration $(DATA) --out $(MODELS) --name fer7 --tta --overwrite

# Latency of the shipped models on this machine, printed.
bench:
	$(EDGE_FER) bench --models all $(FAMILY)

# benchmarks/RESULTS.md (+ results.json/csv, pareto.png, latency.png): rerun when a shipped
# model changes; tests/test_bench_results.py checks the shipped files against it.
results:
	$(EDGE_FER) bench --models all $(FAMILY) --data $(DATA) --video $(VIDEO) --out benchmarks --results-md --overwrite
