# keras2ov: the two commands are `make demo` and `make test`; both set up what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO := fixtures/models/model_pinn
DEMO_OUT := target/demo

.PHONY: setup system-deps venv build demo test fuzz fixtures bench bench-venv bench-export clean-venv \
	wheel wheel-tools wheel-manylinux python-test bench-scale

setup: system-deps venv

# Debian packages for the hdf5 crate, installed only when missing.
system-deps:
	@if ! pkg-config --exists hdf5 2>/dev/null; then \
	  echo "installing libhdf5-dev and pkg-config"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libhdf5-dev pkg-config; \
	fi

# A project-local venv with the pinned OpenVINO wheel (the runtime library comes from it).
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

build: setup
	$(CARGO) build --release

demo: build
	@mkdir -p $(DEMO_OUT)
	./target/release/keras2ov inspect $(DEMO).keras
	./target/release/keras2ov convert $(DEMO).keras -o $(DEMO_OUT)/model_pinn.xml
	./target/release/keras2ov run $(DEMO_OUT)/model_pinn.xml --input $(DEMO).inputs.npz -o $(DEMO_OUT)/model_pinn.outputs.npz
	@$(PY) -c "import numpy as np; \
	y = np.load('$(DEMO_OUT)/model_pinn.outputs.npz'); k = np.load('$(DEMO).outputs.npz'); \
	[print(f'{n}: OpenVINO {y[n].ravel()[:5]}  Keras {k[n].ravel()[:5]}  max |diff| {abs(y[n]-k[n]).max():.2e}') for n in y.files]"
	./target/release/keras2ov jacobian $(DEMO).keras --input $(DEMO).inputs.npz --hessian -o $(DEMO_OUT)/model_pinn.derivatives.npz
	@$(PY) -c "import numpy as np; \
	d = np.load('$(DEMO_OUT)/model_pinn.derivatives.npz'); j = np.load('$(DEMO).derivs.npz'); \
	[print(f'{n:16s} max |OpenVINO - JAX| {abs(d[n]-j[n]).max():.2e}') for n in j.files]; \
	print('heat residual u_t - 0.1 u_xx:', d['jacobian/u/t'][:, 0, 0] - 0.1 * d['hessian/u/x/x'][:, 0, 0, 0])"

# rustfmt does not see the primitive files (their `mod` lines are inside the `primitives!`
# macro), so they are checked by name as well.
test: setup
	$(CARGO) fmt --all -- --check
	rustfmt --edition 2021 --check src/opgraph/prim/*.rs
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p keras2ov-python --all-targets -- -D warnings
	$(CARGO) test
	$(MAKE) python-test

# The wheel (target/wheels/keras2ov-*.whl): the Python module keras2ov._native (PyO3, abi3)
# and the `keras2ov` binary, both with libhdf5 and zlib built from source and linked in
# (feature static-hdf5), so the wheel needs no system HDF5. maturin and cmake come from PyPI
# into the project venv (python/requirements-build.txt).
WHEEL_ENV := PATH="$(abspath $(VENV))/bin:$$PATH" LIBZ_SYS_STATIC=1
wheel-tools: $(VENV)/.wheel-tools

$(VENV)/.wheel-tools: python/requirements-build.txt $(VENV)/.installed
	$(PY) -m pip install -q -r python/requirements-build.txt
	@touch $@

# The binary is built with the Python crate's features unified in (-p keras2ov-python), so
# that maturin reuses the same compiled library instead of building it again.
wheel: setup wheel-tools
	$(WHEEL_ENV) $(CARGO) build --release -p keras2ov -p keras2ov-python --bin keras2ov \
	  --features keras2ov/static-hdf5
	rm -rf target/wheel-data target/wheels/keras2ov-*.whl
	mkdir -p target/wheel-data/scripts
	cp target/release/keras2ov target/wheel-data/scripts/keras2ov
	cd python && $(WHEEL_ENV) maturin build --release --features static-hdf5 \
	  --out ../target/wheels $(MATURIN_FLAGS)
	$(VENV)/bin/auditwheel show target/wheels/keras2ov-*.whl | tr -s ' \n' ' ' | fold -s -w 100; echo

# The same wheel tagged manylinux_2_28 (the `openvino` wheel's own floor) instead of this
# machine's glibc 2.34: both the module and the binary are linked against glibc 2.28 by zig
# (ziglang and cargo-zigbuild from PyPI, python/requirements-zig.txt). Not part of `make
# test`: a second full release build (about 7 minutes each for module and binary here).
# `make python-test WHEEL_GOAL=wheel-manylinux` tests it.
ZIG_TARGET := x86_64-unknown-linux-gnu.2.28
wheel-manylinux: setup wheel-tools $(VENV)/.zig-tools
	$(WHEEL_ENV) cargo-zigbuild zigbuild --release -p keras2ov --bin keras2ov \
	  --features static-hdf5 --target $(ZIG_TARGET)
	rm -rf target/wheel-data target/wheels/keras2ov-*.whl
	mkdir -p target/wheel-data/scripts
	cp target/x86_64-unknown-linux-gnu/release/keras2ov target/wheel-data/scripts/keras2ov
	cd python && $(WHEEL_ENV) maturin build --release --features static-hdf5 \
	  --zig --compatibility manylinux_2_28 --out ../target/wheels $(MATURIN_FLAGS)
	$(VENV)/bin/auditwheel show target/wheels/keras2ov-*.whl | tr -s ' \n' ' ' | fold -s -w 100; echo
	$(VENV)/bin/auditwheel show target/wheels/keras2ov-*.whl | grep -q '"manylinux_2_28_x86_64"'

$(VENV)/.zig-tools: python/requirements-zig.txt $(VENV)/.installed
	$(PY) -m pip install -q -r python/requirements-zig.txt
	@touch $@

# The Python tests in a fresh venv: the wheel, its dependencies, and the test tools (pytest,
# Dask, Ray, jsonschema: python/requirements-test.txt). About 50 s of tests; with the wheel
# build and the venv, about 5 minutes (see the README).
PYTEST_VENV := target/pytest-venv
WHEEL_GOAL ?= wheel
python-test: $(WHEEL_GOAL)
	rm -rf $(PYTEST_VENV)
	python3 -m venv $(PYTEST_VENV)
	$(PYTEST_VENV)/bin/pip install -q target/wheels/keras2ov-*.whl -r python/requirements-test.txt
	cd python/tests && env -u OPENVINO_LIB ../../$(PYTEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The seeded mutation fuzzer of tests/fuzz.rs, for as long as asked (the test suite runs 300
# cases): make fuzz FUZZ_CASES=20000 FUZZ_SEED=7 [FUZZ_SECONDS=3600] [FUZZ_JOBS=2]
FUZZ_CASES ?= 2000
FUZZ_SEED ?= 1
FUZZ_JOBS ?= 2
fuzz: setup
	FUZZ_CASES=$(FUZZ_CASES) FUZZ_SEED=$(FUZZ_SEED) FUZZ_JOBS=$(FUZZ_JOBS) \
	$(if $(FUZZ_SECONDS),FUZZ_SECONDS=$(FUZZ_SECONDS)) \
	$(CARGO) test --release --test fuzz -- --nocapture mutation_fuzz

# Regenerate the committed fixtures (needs keras + jax: fixtures/requirements.txt).
fixtures:
	@[ -x .venv-fixtures/bin/python ] || python3 -m venv .venv-fixtures
	.venv-fixtures/bin/pip install -q -r fixtures/requirements.txt
	.venv-fixtures/bin/python fixtures/generate.py

# Speed: criterion (convert pipeline), keras2ov vs JAX on a PINN MLP (bench/vs_jax.py), on
# sensitivity, on PDE operators (bench/pde_vs_jax.py: Laplacian, u_xxx), and on conv models
# against Keras' own OpenVINO export and JAX (bench/conv_vs_keras_jax.py).
bench: build bench-venv
	$(CARGO) bench
	.venv-bench/bin/python bench/vs_jax.py --keras2ov target/release/keras2ov
	.venv-bench/bin/python bench/sensitivity_vs_jax.py --rows 1000000 --keras2ov target/release/keras2ov
	.venv-bench/bin/python bench/pde_vs_jax.py --keras2ov target/release/keras2ov
	.venv-bench/bin/python bench/conv_vs_keras_jax.py --keras2ov target/release/keras2ov

# Sensitivity over 10 million rows: the CLI alone, and 1 vs 2 workers of Dask and Ray
# (bench/scale.py; the README's "Scaling out" table). Several minutes.
SCALE_ROWS ?= 10000000
bench-scale: wheel
	[ -x target/bench-scale-venv/bin/python ] || python3 -m venv target/bench-scale-venv
	target/bench-scale-venv/bin/pip install -q --force-reinstall --no-deps target/wheels/keras2ov-*.whl
	target/bench-scale-venv/bin/pip install -q target/wheels/keras2ov-*.whl -r python/requirements-test.txt
	target/bench-scale-venv/bin/python bench/scale.py --rows $(SCALE_ROWS)

# The benchmark venv (keras, jax, openvino: bench/requirements.txt).
bench-venv: .venv-bench/.installed

.venv-bench/.installed: bench/requirements.txt
	@[ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
	.venv-bench/bin/pip install -q -r bench/requirements.txt
	@touch $@

# Our IR vs Keras' own OpenVINO export, per single-input fixture, batch 16384, f32 (a few minutes).
# Time another binary with `make bench-export KERAS2OV=path/to/keras2ov` (it still builds ours).
KERAS2OV ?= target/release/keras2ov
bench-export: build bench-venv
	.venv-bench/bin/python bench/vs_keras_export.py --keras2ov $(KERAS2OV)
