# Sluice: one non-recursive Makefile for every program, the tests and the benchmarks.
#   make            build everything into bin/
#   make test       install missing dependencies, build, run the whole suite (plain + ASan/UBSan)
#   make run        start mockllm and the proxy on loopback with sluice.example.json
#   make bench-proxy, make format-check, make san (sanitizer build into bin/san/)

CC       ?= cc
OPT      ?= -O2
CFLAGS   += $(OPT) -g -std=c11 -pthread -fno-strict-aliasing \
            -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-truncation -Wno-unused-parameter
# -iquote, not -I: a project header may share a name with a system one (features.h).
CPPFLAGS += -D_GNU_SOURCE -iquote common -iquote proxy -iquote trainer -iquote sluicectl \
            -iquote evaluator -iquote controller -MMD -MP
LDLIBS_COMMON = -lsqlite3 -lcjson -lm -pthread

# SAN=1 builds everything with AddressSanitizer + UndefinedBehaviorSanitizer into bin/san.
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
OUT     := build/san
BIN     := bin/san
else
OUT     := build/rel
BIN     := bin
endif

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(OUT)/%.o)
LIBSLUICE  := $(OUT)/libsluice.a

PROXY_SRC  := $(wildcard proxy/*.c)
PROXY_OBJ  := $(PROXY_SRC:%.c=$(OUT)/%.o)
TRAINER_SRC := $(wildcard trainer/*.c)
TRAINER_OBJ := $(TRAINER_SRC:%.c=$(OUT)/%.o)
EVAL_SRC   := $(wildcard evaluator/*.c)
EVAL_OBJ   := $(EVAL_SRC:%.c=$(OUT)/%.o)
EVAL_LIB_OBJ := $(filter-out $(OUT)/evaluator/main.o,$(EVAL_OBJ))
CTL_SRC    := $(wildcard sluicectl/*.c)
CONTROL_SRC := $(wildcard controller/*.c)
CONTROL_OBJ := $(CONTROL_SRC:%.c=$(OUT)/%.o)
CONTROL_LIB_OBJ := $(filter-out $(OUT)/controller/main.o,$(CONTROL_OBJ))
CTL_OBJ    := $(CTL_SRC:%.c=$(OUT)/%.o)
MOCK_SRC   := $(wildcard tests/mockllm/*.c)
MOCK_OBJ   := $(MOCK_SRC:%.c=$(OUT)/%.o)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BIN)/tests/%)
ITEST_SRC  := $(wildcard tests/integration/test_*.c)
ITEST_BIN  := $(ITEST_SRC:tests/integration/test_%.c=$(BIN)/tests/itest_%)
HARNESS_OBJ := $(OUT)/tests/integration/harness.o

PROGRAMS := $(BIN)/sluice-proxy $(BIN)/mockllm $(if $(TRAINER_SRC),$(BIN)/sluice-trainer) \
            $(if $(CTL_SRC),$(BIN)/sluicectl) $(if $(EVAL_SRC),$(BIN)/sluice-evaluator) \
            $(if $(CONTROL_SRC),$(BIN)/sluice-controller) \
            $(BIN)/bench-audit \
            $(if $(wildcard tests/bench/bench_drift.c),$(BIN)/bench-drift) \
            $(if $(wildcard tests/bench/bench_eval_ingest.c),$(BIN)/bench-eval-ingest)
# The default router model, trained by the build from the project's own prompt set, so that
# `make run` routes "auto" out of the box (the plain build only: the sanitizer build's tests
# make their own models).
ifneq ($(SAN),1)
PROGRAMS += $(if $(TRAINER_SRC),$(BIN)/router-default.json)
endif

.SECONDARY:
.PHONY: all deps test test-plain test-san san run bench-proxy bench-router bench-accounting bench-eval bench-control fuzz format format-check clean
all: deps $(PROGRAMS) $(UNIT_BIN) $(ITEST_BIN)

deps:
	@scripts/install-deps.sh

# V=1 shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBSLUICE): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

$(BIN)/sluice-proxy: $(PROXY_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -levent_core -levent_extra -levent_pthreads -lcurl -lzmq $(LDLIBS_COMMON)

$(BIN)/sluice-evaluator: $(EVAL_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lzmq -lcurl -lgsl -lgslcblas $(LDLIBS_COMMON)

$(BIN)/sluice-controller: $(CONTROL_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -levent_core -levent_extra -levent_pthreads -lzmq $(LDLIBS_COMMON)

$(BIN)/sluice-trainer: $(TRAINER_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lgsl -lgslcblas $(LDLIBS_COMMON)

# λ 1e-4: on this small set cross-validation prefers 1e-6, which fits the training rows
# perfectly and gives over-confident scores; 1e-4 has the better held-out log-loss (0.30 vs
# 0.41) for almost the same AUC. The threshold keeps 95% of premium quality on the test split.
$(BIN)/router-default.json: $(BIN)/sluice-trainer datasets/prompts.jsonl
	@echo "  TRAIN   $@"
	$(Q){ $(BIN)/sluice-trainer fit --data datasets/prompts.jsonl --lambda 1e-4 --out $@.tmp && \
	  $(BIN)/sluice-trainer thresholds --model $@.tmp --data datasets/prompts.jsonl \
		--split test --min-quality 0.95 --write; } >$(OUT)/router-default.log 2>&1 \
		&& mv $@.tmp $@ || { cat $(OUT)/router-default.log; rm -f $@.tmp; exit 1; }

$(BIN)/sluicectl: $(CTL_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcurl -lgsl -lgslcblas $(LDLIBS_COMMON)

# The audit writer's throughput, for make bench-accounting.
$(BIN)/bench-audit: $(OUT)/tests/bench/bench_audit.o $(OUT)/proxy/audit.o $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_COMMON)

# The drift detectors' delay and false alarms in simulation, and the evaluator's ingest rate,
# for make bench-eval.
$(BIN)/bench-drift: $(OUT)/tests/bench/bench_drift.o $(EVAL_LIB_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lzmq -lcurl -lgsl -lgslcblas $(LDLIBS_COMMON)

$(BIN)/bench-eval-ingest: $(OUT)/tests/bench/bench_eval_ingest.o $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lzmq $(LDLIBS_COMMON)

$(BIN)/mockllm: $(MOCK_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -levent_core -levent_extra $(LDLIBS_COMMON)

# Unit tests link the programs' modules too (all but their main.c), so each module is
# testable alone.
PROXY_LIB_OBJ := $(filter-out $(OUT)/proxy/main.o,$(PROXY_OBJ))
TRAINER_LIB_OBJ := $(filter-out $(OUT)/trainer/main.o,$(TRAINER_OBJ))
CTL_LIB_OBJ := $(filter-out $(OUT)/sluicectl/main.o,$(CTL_OBJ))
$(BIN)/tests/test_%: $(OUT)/tests/unit/test_%.o $(PROXY_LIB_OBJ) $(TRAINER_LIB_OBJ) $(CTL_LIB_OBJ) $(EVAL_LIB_OBJ) $(CONTROL_LIB_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion -levent_core -levent_extra -levent_pthreads -lcurl -lzmq -lgsl -lgslcblas $(LDLIBS_COMMON)

$(BIN)/tests/itest_%: $(OUT)/tests/integration/test_%.o $(HARNESS_OBJ) $(LIBSLUICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion -lcurl -lzmq $(LDLIBS_COMMON)

san:
	@$(MAKE) --no-print-directory SAN=1 all

# The README's test command. Runs every suite in the plain build, then again under ASan+UBSan.
test: all
	@$(MAKE) --no-print-directory SAN=1 all
	@scripts/run-tests.sh bin bin/san

test-plain: all
	@scripts/run-tests.sh bin

run: all
	@scripts/run.sh

bench-proxy: all
	@scripts/bench-proxy.sh

bench-router: all
	@scripts/bench-router.sh

bench-accounting: all
	@scripts/bench-accounting.sh

bench-eval: all
	@scripts/bench-eval.sh

bench-control: all
	@scripts/bench-control.sh

# Short libFuzzer runs (clang) of every parser that takes outside input: FUZZ_SECONDS each.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,bin/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
# A target may need a program's modules too: FUZZ_WITH_<target>.
FUZZ_WITH_fuzz_judge := evaluator/judge.c evaluator/rules.c
bin/fuzz/%: tests/fuzz/%.c $(COMMON_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang -g -O1 -std=c11 -D_GNU_SOURCE -iquote common -iquote evaluator \
		-fsanitize=fuzzer,address,undefined \
		-o $@ $< $(FUZZ_WITH_$*) $(COMMON_SRC) -lsqlite3 -lcjson -lzmq -lgsl -lgslcblas -lm -pthread
fuzz: deps $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
		name=$$(basename $$t); mkdir -p build/fuzz/$$name; \
		echo "== $$t ($(FUZZ_SECONDS) s)"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 build/fuzz/$$name \
			tests/fuzz/seeds/$$name >build/fuzz/$$name.log 2>&1; rc=$$?; \
		grep -aE "DONE|ERROR|SUMMARY" build/fuzz/$$name.log; \
		[ $$rc -eq 0 ] || { echo "fuzz: $$name failed, see build/fuzz/$$name.log"; exit 1; }; \
	done

FORMAT_SRC = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: ok"

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
