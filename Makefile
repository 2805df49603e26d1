# gotflow — one GNU Makefile for the library, the stages, the tools and the tests.
#
#   make            build everything (build/bin/gotflow, build/bin/gotflow-<kind>, ...)
#   make run        install missing packages, build, run the default pipeline
#   make serve      the same pipeline behind the HTTP front on 127.0.0.1:8000 (docs/http.md)
#   make test       install missing packages, build, run every suite; ends with "N passed, N failed"
#   make bench      build and run the benchmarks under tools/bench/
#   make asan       build in build/asan with AddressSanitizer + UBSan and run every suite there
#   make fuzz       build every libFuzzer target tests/fuzz/fuzz_*.c (clang) and run each for
#                   FUZZ_SECONDS seconds (default 60; FUZZ_RUNS=N also caps the inputs, opt-in);
#                   prints executions, corpus, cov/ft and crashes per target, fails on a crash
#   make format     clang-format every .c/.h/.cu file
#   make gpu        only the CUDA backend, the model library and the GPU check programs (what
#                   tests/gpu/run.sh builds; needs nvcc and jansson, nothing else)
#   make demo-model retrain the demo model into models/got-r1-demo (PyPI, about 105 min on 2
#                   cores; docs/demo-model.md)
#   make deps       apt-get install the Debian packages the build and the tests need
#   V=1             show full compile lines

# Debian packages the build and the tests need, and the pkg-config names they provide.
DEBIAN_PKGS := build-essential pkg-config libzmq3-dev libmsgpack-dev libprotobuf-c-dev \
               libpcre2-dev libutf8proc-dev \
               protobuf-c-compiler libyaml-dev libjansson-dev libcmocka-dev jq python3 \
               python3-zmq python3-msgpack procps libpng-dev curl libopenblas0-pthread iproute2 \
               libmicrohttpd-dev python3-venv xxd libsimde-dev
FUZZ_PKGS := clang libclang-rt-14-dev
PKGS := libzmq msgpack libprotobuf-c yaml-0.1 jansson libpng libpcre2-8 libutf8proc zlib \
        libmicrohttpd

SHELL := /bin/bash
CC ?= cc
# nvcc from PATH, else where the CUDA Toolkit installs it (a non-login shell may lack its PATH)
NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc),nvcc)
BUILD := build
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Icommon -I$(BUILD)/gen -MMD -MP
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm -ldl

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-7s %s\n'
endif

# --- sources -------------------------------------------------------------------------------
PROTO_SRC := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(BUILD)/gen/proto/%.pb-c.c,$(PROTO_SRC))
PROTO_H := $(PROTO_C:.c=.h)
LIB_SRC := $(shell find common -name '*.c' -not -path 'common/kernels/cuda/*' | sort)
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(PROTO_C:.c=.o)
LIB := $(BUILD)/libgotflow.a

STAGE_SRC := $(wildcard stages/*.c)
STAGE_BIN := $(patsubst stages/%.c,$(BUILD)/bin/gotflow-%,$(STAGE_SRC))
TSTAGE_SRC := $(wildcard tests/stages/*.c)
TSTAGE_BIN := $(patsubst tests/stages/%.c,$(BUILD)/test-bin/gotflow-%,$(TSTAGE_SRC))
# Small programs the integration tests run (e.g. the single-process reference loop).
TTOOL_SRC := $(wildcard tests/tools/*.c)
TTOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/test-bin/%,$(TTOOL_SRC))

# Every folder under tools/ except bench/ is one program named after the folder.
TOOL_DIRS := $(filter-out bench,$(notdir $(patsubst %/,%,$(wildcard tools/*/))))
TOOL_BIN := $(foreach t,$(TOOL_DIRS),$(if $(wildcard tools/$(t)/*.c),$(BUILD)/bin/$(t)))
BENCH_SRC := $(wildcard tools/bench/*.c)
BENCH_BIN := $(patsubst tools/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

UNIT_SRC := $(wildcard tests/unit/test_*.c tests/oracle/test_*.c)
UNIT_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# CUDA: compiled and linked whenever nvcc exists (the GPU itself is only needed to run it).
# The backend is a shared object, build/lib/libgotflow-cuda.so, that libgotflow loads with
# dlopen when a stage asks for cuda:N (kernels/cuda_load.c): linking the CUDA runtime and
# cuBLAS into a program costs ~150 ms at every start, and most programs never use a GPU.
# Only Hopper code (sm_90, plus its PTX) is built: one target keeps compile time small.
CU_SRC := $(wildcard common/kernels/cuda/*.cu)
HAVE_NVCC := $(shell command -v $(NVCC) >/dev/null 2>&1 && echo 1)
NVCC_FOUND := $(HAVE_NVCC)
CU_ARCH ?= -gencode arch=compute_90,code=[sm_90,compute_90]
NVCCFLAGS ?= -O3 -g
CUDA_SO := $(BUILD)/lib/libgotflow-cuda.so
ifeq ($(HAVE_NVCC),1)
# nvcc says where its toolkit is (TOP); nvcc on PATH may be a wrapper script outside it
CUDA_HOME := $(realpath $(or $(shell $(NVCC) --dryrun -c -x cu /dev/null -o /dev/null 2>&1 | \
    sed -n 's/^\#\$$ TOP=//p'),$(dir $(realpath $(shell command -v $(NVCC))))..))
CUDA_LIBDIR := $(firstword $(foreach d,$(CUDA_HOME)/lib64 $(CUDA_HOME)/targets/x86_64-linux/lib \
    /usr/local/cuda/lib64,$(if $(wildcard $(d)/libcublas.so),$(d))))
ifeq ($(CUDA_LIBDIR),)
$(warning nvcc found but no libcublas.so beside its toolkit ($(CUDA_HOME)): building without CUDA)
HAVE_NVCC :=
endif
endif
ifeq ($(HAVE_NVCC),1)
CU_OBJ := $(patsubst %.cu,$(BUILD)/cuobj/%.o,$(CU_SRC))
CUDA_TARGETS := $(CUDA_SO)
$(BUILD)/obj/common/kernels/cuda_load.o: CPPFLAGS += -DGF_CUDA_LIB='"$(abspath $(CUDA_SO))"'
endif

# The model runtime alone (no transport, no engine): what the GPU check programs link, so
# that `make gpu` builds on a machine with nvcc and jansson only.
MODEL_SRC := $(wildcard common/core/error.c common/core/grow.c common/core/log.c \
               common/core/opts.c \
               common/kernels/*.c \
               common/kernels/cpu/*.c) \
             $(addprefix common/model/lm/,checkpoint.c config.c safetensors.c llm.c vq.c loop.c \
               imagegen.c sampler.c)
MODEL_LIB := $(BUILD)/libgotflow-model.a
# build/gpu/check is made of every tests/gpu/*.c (check.c drives the others).
GPU_SRC := $(wildcard tests/gpu/*.c)
GPU_BIN := $(BUILD)/gpu/check $(BUILD)/gpu/mkmodel
MODEL_LDLIBS := -ljansson -lpthread -lm -ldl

.PHONY: all run serve test bench format deps clean oracle asan fuzz gpu demo-model
.SECONDARY:
all: $(LIB) $(STAGE_BIN) $(TOOL_BIN) $(TSTAGE_BIN) $(TTOOL_BIN) $(UNIT_BIN) $(BENCH_BIN) \
     $(CUDA_TARGETS) $(GPU_BIN)
gpu: $(CUDA_TARGETS) $(GPU_BIN)

# `make gpu` is for a GPU machine: without a CUDA backend to build (no nvcc, or no libcublas
# beside it) or without jansson's headers it stops at once instead of building a CPU-only check.
ifneq ($(filter gpu,$(MAKECMDGOALS)),)
ifneq ($(HAVE_NVCC),1)
$(error make gpu: no CUDA backend can be built here: $(if $(NVCC_FOUND),no libcublas.so beside nvcc's toolkit '$(CUDA_HOME)',nvcc not found ('$(NVCC)')); see docs/cuda.md)
endif
ifneq ($(shell echo '\#include <jansson.h>' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1),1)
$(error make gpu: jansson.h not found (install libjansson-dev, or run tests/gpu/fetch-deps.sh where a package registry is reachable and bring .gpu-deps/ along: tests/gpu/run.sh unpacks it))
endif
endif

# --- rules ---------------------------------------------------------------------------------
$(BUILD)/gen/proto/%.pb-c.c $(BUILD)/gen/proto/%.pb-c.h: proto/%.proto
	$(quiet) PROTOC $<
	@mkdir -p $(BUILD)/gen/proto
	$(Q)protoc-c --c_out=$(BUILD)/gen $<

$(BUILD)/gen/proto/%.pb-c.o: $(BUILD)/gen/proto/%.pb-c.c
	$(quiet) CC $<
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# NO_PROTO=1 (make gpu on a machine without protoc-c): the model objects need no protocol.
$(BUILD)/obj/%.o: %.c | $(if $(NO_PROTO),,$(PROTO_H))
	$(quiet) CC $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(MODEL_LIB): $(patsubst %.c,$(BUILD)/obj/%.o,$(MODEL_SRC))
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/cuobj/%.o: %.cu
	$(quiet) NVCC $<
	@mkdir -p $(dir $@)
	$(Q)$(NVCC) -std=c++17 $(CU_ARCH) $(NVCCFLAGS) -D_GNU_SOURCE -Icommon -MMD -MP \
	    -Xcompiler -fPIC,-fvisibility=hidden,-Wall -c -o $@ $<

$(CUDA_SO): $(CU_OBJ)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(NVCC) -shared $(CU_ARCH) -o $@ $^ -L$(CUDA_LIBDIR) -lcublas -lcudart \
	    -Xlinker -rpath,$(CUDA_LIBDIR) -Xlinker -z,defs

$(BUILD)/gpu/mkmodel: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/mkmodel/*.c)) $(MODEL_LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(MODEL_LDLIBS)

$(BUILD)/gpu/check: $(patsubst %.c,$(BUILD)/obj/%.o,$(GPU_SRC)) $(MODEL_LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(MODEL_LDLIBS)

$(BUILD)/bin/gotflow-%: $(BUILD)/obj/stages/%.o $(LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test-bin/gotflow-%: $(BUILD)/obj/tests/stages/%.o $(LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test-bin/%: $(BUILD)/obj/tests/tools/%.o $(LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

define tool_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/$(1)/*.c)) $(LIB)
	$$(quiet) LINK $$@
	@mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(ALL_CFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach t,$(TOOL_DIRS),$(eval $(call tool_rule,$(t))))

# The web console's files (tools/gotflow/console/), built into gotflow as C arrays (docs/http.md).
CONSOLE_SRC := $(sort $(wildcard tools/gotflow/console/*))
$(BUILD)/gen/console_files.h: $(CONSOLE_SRC) Makefile
	$(quiet) XXD $@
	@mkdir -p $(dir $@)
	$(Q){ for f in $(CONSOLE_SRC); do n=$$(basename $$f | tr -c 'a-zA-Z0-9\n' _); \
	      echo "static const unsigned char s_file_$$n[] = {"; xxd -i <$$f; echo ", 0};"; done; \
	      echo "static const struct s_file s_files[] = {"; \
	      for f in $(CONSOLE_SRC); do n=$$(basename $$f | tr -c 'a-zA-Z0-9\n' _); \
	      echo "    {\"/$$(basename $$f)\", s_file_$$n, sizeof s_file_$$n - 1},"; done; \
	      echo "};"; } >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/tools/gotflow/http_console.o: $(BUILD)/gen/console_files.h

$(BUILD)/bench/%: $(BUILD)/obj/tools/bench/%.o $(LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The AVX-512 BF16 kernel once more over SIMDe (libsimde-dev), for its unit test only: the same
# source runs on a CPU without AVX-512. (-Wno-psabi: SIMDe passes 64-byte vectors by value.)
$(BUILD)/obj/emu/%.o: common/kernels/cpu/%.c
	$(quiet) CC-EMU $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Wno-psabi -DGF_AVX512_EMULATE -c -o $@ $<
$(BUILD)/tests/unit/test_bf16_avx512: $(BUILD)/obj/tests/unit/test_bf16_avx512.o \
                                      $(BUILD)/obj/emu/bf16_avx512.o $(LIB)
	$(quiet) LINK $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# --- commands ------------------------------------------------------------------------------
deps:
	@missing=""; for p in $(DEBIAN_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: deps
	$(MAKE) all
	tools/run-default.sh

# The demo model's pipeline and the HTTP front (docs/http.md); LISTEN=HOST:PORT, KEYS=FILE.
serve: deps
	$(MAKE) all
	$(BUILD)/bin/gotflow serve pipelines/got-r1-cpu.yaml --listen $(or $(LISTEN),127.0.0.1:8000) \
	    $(if $(KEYS),--keys $(KEYS))

demo-model: all
	tools/demo-model/train.sh models/got-r1-demo

test: deps
	$(MAKE) all
	tests/run.sh

bench: all
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan: deps
	$(MAKE) BUILD=build/asan CFLAGS="$(SAN)" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    GOTFLOW_BUILD=build/asan tests/run.sh

# Fuzz targets: tests/fuzz/fuzz_<parser>.c (any new one is picked up), each linked with the
# library built by clang with -fsanitize=fuzzer-no-link. Seeds in tests/fuzz/corpus/<target>/
# (small, committed, rebuilt by tests/fuzz/make-seeds.sh); tests/fuzz/run.sh runs each target for
# FUZZ_SECONDS, puts what it finds in build/fuzz/corpus/<target>/ (copy a find into the seeds
# when it is worth keeping) and a crash in build/fuzz/crashes/<target>/, and fails on one.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined
fuzz: deps
	@for p in $(FUZZ_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || { apt-get install -y -qq $(FUZZ_PKGS) >/dev/null; break; }; done
	$(MAKE) BUILD=build/fuzz-lib CC=clang CFLAGS="$(FUZZ_FLAGS)" build/fuzz-lib/libgotflow.a
	$(MAKE) fuzz-bins
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) tests/fuzz/run.sh $(FUZZ_BIN)

.PHONY: fuzz-bins
fuzz-bins: $(FUZZ_BIN)
$(BUILD)/fuzz/%: tests/fuzz/%.c build/fuzz-lib/libgotflow.a
	$(quiet) FUZZ $@
	@mkdir -p $(dir $@)
	$(Q)clang -std=c11 $(filter-out -MMD -MP,$(CPPFLAGS)) $(FUZZ_FLAGS) -fsanitize=fuzzer \
	    $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -o $@ $< build/fuzz-lib/libgotflow.a $(LDLIBS)

format:
	clang-format -i $$(find common stages tools tests -name '*.[ch]' -o -name '*.cu')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Regenerates the committed goldens with the reference implementations (needs network for PyPI).
oracle:
	tests/oracle/run.sh
