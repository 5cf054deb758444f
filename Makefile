# `make demo` and `make test` do all set-up on a fresh machine: a virtual environment with the
# pinned CPU build of PyTorch (constraints.txt), the package with every optional extra the tests
# exercise (TensorBoard, MLflow, ONNX, the Hub client), and the data sets they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install data browser demo demo-faces test test-float32 test-figures fuzz lint bench clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,all]'
	touch $(STAMP)

data: install
	$(BIN)/vaekit data fetch all

demo: install
	$(BIN)/vaekit data fetch mnist
	rm -rf runs/demo
	$(BIN)/vaekit compare --data mnist --latent-dim 2 --epochs 80 --out runs/demo
	$(BIN)/python benchmarks/demo_range.py runs/demo
	@echo "open runs/demo/report.html in a browser; the two runs are runs/demo/ae and runs/demo/vae"
	@echo "see them live, side by side: $(BIN)/vaekit serve runs/demo"

# the seeds' face VAE (Conv-BN-LeakyReLU, upsample decoder, latent 500, one-cycle) on the built-in
# faces at 128x128, trained twice: plain MSE, and the sharp objective (L1 + focal frequency +
# MS-SSIM); their attribute directions, and one report comparing the two (4 min on 2 AMD EPYC cores,
# about 2 more the first time, when the identity classifier the report uses is trained and cached)
FACE_EPOCHS ?= 40
FACE_VAE := --data orl-faces --backbone conv --image-size 128 --latent-dim 500 --epochs $(FACE_EPOCHS)
demo-faces: install
	$(BIN)/vaekit data fetch orl-faces
	rm -rf runs/faces
	$(BIN)/vaekit train $(FACE_VAE) --loss mse --no-progress --out runs/faces/mse
	$(BIN)/vaekit train $(FACE_VAE) --objective sharp --loss l1 --no-progress --out runs/faces/sharp
	$(BIN)/vaekit attributes runs/faces/sharp
	$(BIN)/vaekit attributes runs/faces/mse
	$(BIN)/vaekit compare runs/faces/mse runs/faces/sharp --out runs/faces
	@echo "open runs/faces/report.html: MSE's faces beside the sharp objective's"
	@echo "describe a face live: $(BIN)/vaekit serve runs/faces, then Describe, with both runs side by side"

# the page's tests drive a real headless Chromium: Debian's package (browser downloads are not
# possible everywhere), found on PATH or at $VAEKIT_CHROMIUM
browser:
	@command -v chromium >/dev/null || [ -n "$$VAEKIT_CHROMIUM" ] || \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium >/dev/null; }

TEST_WORKERS ?= 2
# TEST_WORKERS workers with a CPU each (tests/conftest.py pins them), then, alone on the whole machine, the
# tests that measure threads or timing and the learned outcomes, whose margins were measured with
# the threads a run takes by default
test: data browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m 'not figures and not learned and not serial'
	$(BIN)/python -m pytest -q -m 'not figures and (learned or serial)'

# the learned-outcome tests on the other numeric path: "auto" precision as a CPU without native
# bfloat16 runs it (float32), so a developer on one kind of CPU checks what the other kind sees
test-float32: data browser
	$(BIN)/python -m pytest -q -m learned --float32

# the real-data checks that re-measure published figures (tutorial loss, denoising dB, the
# 30-epoch AE-vs-VAE gap, ...): about 6 minutes on 2 cores
test-figures: data
	$(BIN)/python -m pytest -q -m figures

# every reader of untrusted bytes, 100,000 inputs each under atheris (coverage-guided): ~15 min
fuzz: install
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[fuzz]'
	$(BIN)/python benchmarks/fuzz.py

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) runs build *.egg-info
