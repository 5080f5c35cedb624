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

.PHONY: models happy_sad fer7 fer7-train family bench results

models: fer7 happy_sad

fer7: fer7-train
	$(EDGE_FER) export $(RUNS)/vgg_fer7/model.keras --calibration $(DATA) --out $(MODELS) --name fer7 --tta --overwrite

fer7-train:
	$(EDGE_FER) train --data $(DATA) --arch vgg --classes all --epochs 40 --label-smoothing 0.1 --seed 0 --out $(RUNS)/vgg_fer7 --resume

# happy_sad is the fer7 network answering between happy and sad. Trained on all seven
# emotions it tells them apart better (PublicTest 92.89%) than a vgg trained on happy and sad
# alone (90.50%, benchmarks/family/vgg_happy_sad_finetuned.md) or the ensemble of that one's
# ten k-fold models (91.47%).
happy_sad: fer7-train
	$(EDGE_FER) export $(RUNS)/vgg_fer7/model.keras --calibration $(DATA) --classes happy,sad --out $(MODELS) --name happy_sad --tta --overwrite

# Every architecture of the family on both tasks, long enough to place it honestly on the
# accuracy-vs-latency chart: arch:classes:epochs. Weights stay in $(RUNS)/family; the cards
# (accuracy, sizes, int8 speed-up, provenance) go to benchmarks/family/. --force: a tiny
# model's int8 can be slower than its fp32, which its card then says.
# vgg is the shipped models (make models): their cards are in $(MODELS).
# c costs ~3.5 min per happy/sad epoch and ~7.5 min per fer7 epoch on 2 cores, so its runs are
# short and its figures a floor.
FAMILY_RUNS ?= poc:all:15 poc:happy,sad:15 a:all:30 a:happy,sad:30 b:all:12 b:happy,sad:12 \
	c:all:3 c:happy,sad:5
family:
	set -e; for spec in $(FAMILY_RUNS); do \
	  arch=$${spec%%:*}; rest=$${spec#*:}; classes=$${rest%%:*}; epochs=$${rest#*:}; \
	  task=$$( [ "$$classes" = all ] && echo fer7 || echo "$$classes" | tr , _ ); \
	  run=$(RUNS)/family/$${arch}_$$task; \
	  $(EDGE_FER) train --data $(DATA) --arch $$arch --classes $$classes --epochs $$epochs \
	    --label-smoothing 0.1 --seed 0 --out $$run --resume; \
	  $(EDGE_FER) export $$run/model.keras --calibration $(DATA) --out $(RUNS)/family \
	    --name $${arch}_$$task --force --overwrite; \
	  mkdir -p benchmarks/family; \
	  cp $(RUNS)/family/$${arch}_$$task.md $(RUNS)/family/$${arch}_$$task.card.json benchmarks/family/; \
	done

# Latency of the shipped models on this machine, printed.
bench:
	$(EDGE_FER) bench --models all $(FAMILY)

# benchmarks/RESULTS.md (+ results.json/csv, pareto.png, latency.png): rerun when a shipped
# model changes; tests/test_bench_results.py checks the shipped files against it.
results:
	$(EDGE_FER) bench --models all $(FAMILY) --data $(DATA) --video $(VIDEO) --out benchmarks --results-md --overwrite
