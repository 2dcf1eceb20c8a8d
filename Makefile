# The Inpainting Book: two commands on a fresh machine.
#   make book   builds the HTML book in _build/html, executing every notebook in the
#               profile the machine affords (quick on CPU, workshop on a CUDA GPU)
#   make test   runs the test suite
# Both create .venv and install what they need into it. See README.md for options.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check --quiet

# Which torch build to install when .venv has none:
#   auto  CUDA build if `nvidia-smi` works, else the CPU build (falls back to PyPI's default)
#   cpu   the CPU-only build from the PyTorch CPU index
#   cuda  PyPI's default build (CUDA on Linux)
# TORCH_SPEC pins a version, e.g.  make book TORCH=cpu TORCH_SPEC="torch==2.13.0"
TORCH      ?= auto
TORCH_SPEC ?= torch>=2.2
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

# Profile for executing notebooks; empty = the machine's default (quick without CUDA).
INPAINTLIB_PROFILE ?=
export INPAINTLIB_PROFILE

JS_DIR     := book/_js
JS_STATIC  := book/_widgets_js
PYTEST_ARGS ?=

PLAYGROUND := $(JS_STATIC)/playground

.PHONY: help book test student venv js playground clean clean-all

help:
	@echo "make book     build the HTML book (_build/html), executing the notebooks"
	@echo "make test     run the test suite"
	@echo "make student  write student copies of the notebooks to _build/student"
	@echo "options: TORCH=auto|cpu|cuda TORCH_SPEC='torch==X' INPAINTLIB_PROFILE=quick|workshop|paper"

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, and only if missing, so pip never swaps an installed build for another.
$(VENV)/.torch: | $(PY)
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo "torch $$($(PY) -c 'import torch; print(torch.__version__)') already installed"; \
	else \
	  mode="$(TORCH)"; \
	  if [ "$$mode" = auto ]; then \
	    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then mode=cuda; else mode=cpu; fi; \
	  fi; \
	  echo "installing $(TORCH_SPEC) ($$mode build)"; \
	  if [ "$$mode" = cpu ]; then \
	    $(PIP) install --retries 1 --timeout 30 "$(TORCH_SPEC)" --index-url $(TORCH_CPU_INDEX) \
	      || { echo "CPU index not reachable: installing PyPI's default torch build"; $(PIP) install "$(TORCH_SPEC)"; }; \
	  else \
	    $(PIP) install "$(TORCH_SPEC)"; \
	  fi; \
	fi
	@touch $@

$(VENV)/.core: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[test]"
	@touch $@

$(VENV)/.book: pyproject.toml $(VENV)/.core
	$(PIP) install -e ".[test,book,tensorboard]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (inpaintlib)" >/dev/null
	@touch $@

venv: $(VENV)/.book

# Widget and MathJax JavaScript from npm, served from the book itself so pages work offline.
$(JS_STATIC)/.stamp: $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	cd $(JS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(JS_STATIC) && mkdir -p $(JS_STATIC)/mathjax
	cp $(JS_DIR)/node_modules/requirejs/require.js $(JS_STATIC)/
	cp $(JS_DIR)/node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js $(JS_STATIC)/
	# the Font Awesome files the widget manager's CSS asks for, beside embed-amd.js (its public path)
	cp $(JS_DIR)/node_modules/@jupyter-widgets/html-manager/dist/*.woff2 \
	   $(JS_DIR)/node_modules/@jupyter-widgets/html-manager/dist/*.woff \
	   $(JS_DIR)/node_modules/@jupyter-widgets/html-manager/dist/*.ttf \
	   $(JS_DIR)/node_modules/@jupyter-widgets/html-manager/dist/*.eot $(JS_STATIC)/
	cp -r $(JS_DIR)/node_modules/mathjax/es5/tex-mml-chtml.js $(JS_DIR)/node_modules/mathjax/es5/output $(JS_STATIC)/mathjax/
	@touch $@

js: $(JS_STATIC)/.stamp

# The playground page's assets: each reference model exported to ONNX (half-precision weights)
# and checked against PyTorch, ONNX Runtime Web's WebAssembly, all embedded in .js files so the
# page also works opened from disk (inpaintlib/playground.py).
$(PLAYGROUND)/.stamp: $(JS_STATIC)/.stamp $(VENV)/.core inpaintlib/playground.py inpaintlib/export.py \
                      $(wildcard inpaintlib/reference_models/*)
	OMP_NUM_THREADS=1 $(PY) -m inpaintlib.playground $(PLAYGROUND) --node-modules $(JS_DIR)/node_modules
	@touch $@

playground: $(PLAYGROUND)/.stamp

book: $(VENV)/.book $(JS_STATIC)/.stamp $(PLAYGROUND)/.stamp
	@$(PY) -c "import torch, inpaintlib.profiles as p; print('building with', p.get_profile(), '| torch', torch.__version__, '| CUDA' if torch.cuda.is_available() else '| CPU')"
	$(VENV)/bin/jupyter-book build . --path-output . -W -n --keep-going
	@echo "book: open _build/html/index.html"

test: $(VENV)/.book $(JS_STATIC)/.stamp $(PLAYGROUND)/.stamp
	$(PY) -m pytest $(PYTEST_ARGS)

student: $(VENV)/.core
	$(PY) -m inpaintlib.teaching book _build/student

clean:
	rm -rf _build

clean-all: clean
	rm -rf $(VENV) $(JS_DIR)/node_modules $(JS_STATIC)
