/*
 * gpuform's entry point: dispatches `gpuform <command> [options]` through the command
 * table. Only commands that work are in the table, so `gpuform help` never lists a stub.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_command cli_commands[] = {
    {"validate", cmd_validate, "check stacks for errors and show what they contain",
     "usage: gpuform validate [options] [PATH...]\n"
     "\n"
     "Checks each stack (a directory of *.yaml files, or one file) and reports every\n"
     "problem found, as file:line:col with the source line. PATH defaults to '.'.\n"
     "\n"
     "options:\n"
     "  --var NAME=VALUE     set a stack variable (repeatable; beats GPUFORM_VAR_NAME)\n"
     "  --format FORMAT      text (default), json (an array of diagnostics on stdout)\n"
     "                       or github (workflow annotations for pull requests)\n"
     "  --strict             fail on warnings too\n"
     "  -q, --quiet          print problems only, not the summary of each stack\n"
     "  --no-color           never colour the output (also: NO_COLOR=1)\n"
     "  -h, --help           show this help\n"
     "\n"
     "exit status: 0 valid, 1 errors (or warnings with --strict)\n"},
    {"plan", cmd_plan, "place every node at least cost within the stack's rules",
     "usage: gpuform plan [options] [PATH]\n"
     "\n"
     "Loads the stack at PATH (a directory of *.yaml files, or one file; default '.') as\n"
     "'gpuform validate' does, then places every node over the offer catalog: each\n"
     "training or batch node, service replica and federated site gets a cloud, region,\n"
     "zone and instance type, so that the expected cost (price x hours, plus data egress)\n"
     "is least and every rule holds: GPU model, count and memory, clouds and regions,\n"
     "spot policy, together, spread, max_per_region, quotas and budgets. Prints one line\n"
     "per node, each budget against its caps, the totals, and how far from optimal the\n"
     "plan can be at most (a proven lower bound). When no placement exists it says why,\n"
     "with counts, at the workload or budget in the spec. docs/planner.md explains how.\n"
     "\n"
     "options:\n"
     "  --catalog PATH       plan over this catalog (default: the one built into gpuform;\n"
     "                       'gpuform catalog list' shows it)\n"
     "  --var NAME=VALUE     set a stack variable (repeatable; beats GPUFORM_VAR_NAME)\n"
     "  --json               print the plan as JSON (docs/plan-json.md); the same as\n"
     "                       --format json\n"
     "  --format FORMAT      text (default), json, or markdown: the changes and the cost\n"
     "                       change as a pull-request comment\n"
     "  --detailed-exitcode  exit 2 when there are changes to apply, 0 when none\n"
     "  --solver SOLVER      fast (default): the built-in solver, with a lower bound;\n"
     "                       exact: write the model as an LP file and solve it with the\n"
     "                       'cbc' program (Debian: apt-get install coinor-cbc)\n"
     "  --lp PATH            exact: keep the LP model at PATH\n"
     "  --time-limit SECS    exact: stop cbc after SECS seconds\n"
     "  --override-policy NAME\n"
     "                       let the plan through a soft policy's findings (repeatable;\n"
     "                       NAME is the hook file as the spec names it, or its stem)\n"
     "  --override-reason TEXT\n"
     "                       why (one line): shown in the plan and its JSON, kept in a\n"
     "                       saved plan; --out needs it when an override lets findings through\n"
     "  --target ADDR        only the changes of this node, or of every node of this\n"
     "                       workload (repeatable; for exceptional cases)\n"
     "  --out FILE           save the plan: 'gpuform apply FILE' applies exactly these\n"
     "                       changes, or refuses when the stack, catalog or state changed\n"
     "  --refresh-only       list the clouds (one tag-filtered call per cloud and region)\n"
     "                       and show only the drift from the state, writing nothing;\n"
     "                       with --detailed-exitcode, exit 2 when nodes are gone\n"
     "  --sim[=CONFIG]       --refresh-only against the stack's cloudsim world (as apply\n"
     "                       --sim keeps it, beside the state)\n"
     "  --no-color           never colour the output (also: NO_COLOR=1)\n"
     "  -h, --help           show this help\n"
     "\n"
     "The stack's hook files then run in the policy sandbox: validate_plan(plan) findings\n"
     "that are hard (or soft and not overridden) fail the plan; advisory ones are warnings\n"
     "(docs/policies.md).\n"
     "When the stack has a state (state.path), nodes stay where they are unless moving saves\n"
     "more than 10%, and the plan shows the changes against it: + create, - delete, -/+\n"
     "replace, ~ update or verify (a verification left pending), with where and why.\n"
     "The same stack, state and catalog always give the same plan, byte for byte.\n"
     "exit status: 0 a plan was made (with --detailed-exitcode: and nothing to change),\n"
     "1 errors (an invalid stack or state, no placement, a budget that can't be met, a\n"
     "policy that fails), 2 changes present (with --detailed-exitcode)\n"},
    {"gpus", cmd_gpus, "list the GPU models gpuform knows, with their datasheet figures",
     "usage: gpuform gpus [--json]\n"
     "\n"
     "Lists every GPU model a spec may name, its aliases, memory, memory bandwidth and\n"
     "FP32/BF16 peaks (dense, from the datasheets).\n"
     "\n"
     "options:\n"
     "  --json               print a JSON array instead of a table\n"
     "  -h, --help           show this help\n"},
    {"schema", cmd_schema, "print the JSON Schema of the spec language",
     "usage: gpuform schema\n"
     "\n"
     "Prints the JSON Schema (draft 2020-12) of spec language v1, generated from the\n"
     "same tables that validate specs. Point your editor at it, for example with\n"
     "  # yaml-language-server: $schema=../schema/gpuform-v1.json\n"
     "at the top of a spec file.\n"},
    {"apply", cmd_apply, "create, replace and delete nodes until the clouds match the plan",
     "usage: gpuform apply [options] [PATH]\n"
     "       gpuform apply [--sim] [--parallelism N] [--lock-timeout D] FILE\n"
     "\n"
     "Locks the stack's state, settles what a killed run left in the journal, plans against\n"
     "the state (nodes stay where they are unless moving saves more than 10%), shows the\n"
     "changes, asks for confirmation on a terminal, and makes them through the clouds' APIs:\n"
     "every call is journalled first and every finished change written to the state at once.\n"
     "A capacity or quota error blocks that offer for an hour (kept in the state) and moves\n"
     "the node to the next-best placement. The first interrupt starts nothing new and waits\n"
     "for the calls in flight; a second saves the state and stops at once (docs/state.md).\n"
     "With FILE, a plan saved by 'gpuform plan --out FILE', apply plans again from the\n"
     "inputs it records and makes exactly its changes without asking, or nothing when the\n"
     "stack, a variable, the catalog, the state or the clouds changed since (it says what).\n"
     "Nodes of workloads with 'verify: quick' or 'full' are verified once created: their\n"
     "boot script runs 'gpuform verify --agent', whose signed report apply reads from the\n"
     "console; a failed node is replaced elsewhere (its zone and type blocked) unless a\n"
     "policy's on_verify says 'accept' or 'taint' (docs/verify.md, 'Gated apply'). A node\n"
     "whose report a run did not read (interrupted, killed) is 'pending' in the state; the\n"
     "next apply reads it as a 'verify' change, and decides the same way.\n"
     "\n"
     "options:\n"
     "  --auto-approve       apply without asking (required without a terminal)\n"
     "  --var NAME=VALUE     set a stack variable (repeatable; beats GPUFORM_VAR_NAME)\n"
     "  --target ADDR        only the changes of this node or workload (repeatable)\n"
     "  --parallelism N      calls in flight at most (default 10)\n"
     "  --lock-timeout DUR   wait this long for the state's lock (30s, 5m; default: fail at once)\n"
     "  --catalog PATH       plan over this catalog (default: the bundled one)\n"
     "  --override-policy NAME\n"
     "                       go past a soft policy's findings (repeatable); the stack's\n"
     "                       policies run as in plan, and before_apply may veto a change\n"
     "  --override-reason TEXT\n"
     "                       why (one line; required when an override lets a finding\n"
     "                       through): recorded in the state with who ($GPUFORM_ACTOR,\n"
     "                       the CI's user, or login@host), when and the findings\n"
     "  --sim[=CONFIG]       run against cloudsim started in this process on a free loopback\n"
     "                       port (CONFIG: a world config, docs/cloudsim.md; default: fast\n"
     "                       and unlimited); also '--sim CONFIG PATH'\n"
     "  --verify-timeout DUR wait this long for a node's verify report (default 15m quick,\n"
     "                       30m full)\n"
     "  --verify-retries N   replace a node that failed verification at most N times\n"
     "                       (default 2); after that it is left tainted and apply fails\n"
     "  -h, --help           show this help\n"
     "\n"
     "The machine image is $GPUFORM_AWS_AMI (required on real AWS; cloudsim takes any).\n"
     "exit status: 0 every change made (or none needed), 1 errors or an interrupted run\n"},
    {"show", cmd_show, "show a saved plan, or what the stack's state records",
     "usage: gpuform show [--json] [--no-color] [FILE | PATH]\n"
     "\n"
     "With FILE, a plan saved by 'gpuform plan --out': where it came from (stack, catalog,\n"
     "state serial) and its changes; --json prints the saved plan document (docs/state.md).\n"
     "With PATH, a stack (default '.'): every node its state records, with where it runs,\n"
     "its instance, status, verification and price, and the offers blocked after capacity\n"
     "or quota errors, and the policy overrides applied (who, when, why, the findings; the\n"
     "last 100); --json prints the state document. Reads without taking the lock.\n"
     "\n"
     "exit status: 0 shown, 1 errors (an unreadable plan, stack or state)\n"},
    {"destroy", cmd_destroy, "delete every node the state records",
     "usage: gpuform destroy [options] [PATH]\n"
     "\n"
     "Deletes every node of the stack's state through the clouds' APIs, journalled and\n"
     "recorded like apply. Takes apply's options (--auto-approve, --parallelism,\n"
     "--lock-timeout, --catalog, --sim).\n"
     "\n"
     "exit status: 0 everything deleted, 1 errors or an interrupted run\n"},
    {"refresh", cmd_refresh, "check the state against the clouds and record what is gone",
     "usage: gpuform refresh [--lock-timeout D] [--sim [CONFIG]] [PATH]\n"
     "\n"
     "Takes the state's lock, settles a journal a killed run left, then lists every cloud\n"
     "and region of the state and of the stack once (one tag-filtered call each): nodes\n"
     "whose instance was terminated out of band or reclaimed as spot leave the state; nodes\n"
     "that run differently and instances with the stack's tag that the state doesn't know\n"
     "are reported and left alone. apply and destroy do the same before they plan.\n"
     "\n"
     "exit status: 0 refreshed (drift is reported, not an error), 1 errors\n"},
    {"import", cmd_adopt, "adopt an instance the state doesn't know as one of the stack's nodes",
     "usage: gpuform import ADDRESS ID [--sim [CONFIG]] [--catalog PATH] [PATH]\n"
     "\n"
     "Records the running instance ID (found in the regions of the stack's clouds) as the\n"
     "node ADDRESS, which the stack's plan must have ('gpuform plan' lists the addresses),\n"
     "under the state's lock. Refused: an address or an instance already in the state, an\n"
     "instance tagged for another stack, one that is not running. 'gpuform refresh' and\n"
     "'apply' report the tagged instances the state doesn't know.\n"
     "\n"
     "exit status: 0 imported, 1 errors\n"},
    {"state", cmd_state, "list, show, remove, pull or push the state",
     "usage: gpuform state list [--stack PATH]\n"
     "       gpuform state show ADDRESS [--stack PATH] [--json]\n"
     "       gpuform state rm ADDRESS... [--stack PATH]\n"
     "       gpuform state pull [--version N] [--stack PATH]\n"
     "       gpuform state push FILE [--force] [--stack PATH]\n"
     "\n"
     "The state is what gpuform has created for a stack (docs/state.md); the stack at\n"
     "PATH (default '.') says where it is kept (its state: block: a local file, etcd or S3).\n"
     "list prints each node's address; show prints one node (--json: its part of the state\n"
     "document); rm forgets nodes without touching their instances, which keep running,\n"
     "no longer managed. rm takes the state's lock and writes the state atomically, keeping\n"
     "the previous one as the backup. pull prints the stored document byte for byte\n"
     "(--version N: N versions back, as far as the backend keeps them); push replaces it\n"
     "with FILE ('-': standard input) under the lock, refusing another lineage or an older\n"
     "serial unless --force.\n"
     "\n"
     "exit status: 0 success, 1 errors (no such address, a locked or unreadable state)\n"},
    {"init", cmd_init, "record the stack's state backend; move the state to a new one",
     "usage: gpuform init [--migrate-state [--force] | --reconfigure] [PATH]\n"
     "\n"
     "Checks that the backend the stack's state: block names answers and records it in\n"
     ".gpuform/backend.json. When the state was on another backend (the marker, or a local\n"
     ".gpuform/state.json before a shared backend), --migrate-state copies it to the new one\n"
     "under both locks (refusing a different state there unless --force), and\n"
     "--reconfigure starts from what the new backend holds. Other commands refuse to run\n"
     "until the move is done, so a changed state: block never looks like an empty state.\n"
     "\n"
     "exit status: 0 success, 1 errors\n"},
    {"force-unlock", cmd_force_unlock, "remove a state lock left by a run that is gone",
     "usage: gpuform force-unlock ID [--stack PATH]\n"
     "\n"
     "Removes the lock whose ID an error message named ('the state is locked by ...,\n"
     "lock ID'). A lock left by a killed run on the same host is taken over without this;\n"
     "force-unlock is for locks from another host, and refuses a wrong ID or a holder\n"
     "that is still running on this host.\n"
     "\n"
     "exit status: 0 unlocked, 1 errors\n"},
    {"policy", cmd_policy, "test policies against fixture plans",
     "usage: gpuform policy test DIR\n"
     "\n"
     "Runs every fixture (*.json, in name order) in DIR: each names policy files (relative\n"
     "to DIR), a plan document (what 'gpuform plan --json' prints, plus 'workloads') and\n"
     "the findings validate_plan must return. A finding matches an expected one when the\n"
     "level and address are equal and the expected message is part of the actual one;\n"
     "every finding must be expected and every expected finding found.\n"
     "docs/policies.md, 'Testing policies', has the format.\n"
     "\n"
     "exit status: 0 every fixture passed, 1 a fixture failed or could not be read\n"},
    {"catalog", cmd_catalog, "list GPU offers and prices; import and update catalogs",
     "usage: gpuform catalog list [options]\n"
     "       gpuform catalog import --format skypilot --out PATH [options] FILE...\n"
     "       gpuform catalog update [options]\n"
     "\n"
     "The offer catalog is what gpuform plans with: every cloud, region, zone and instance\n"
     "type with GPUs, its on-demand and spot price in USD per hour, the date the prices were\n"
     "observed and where they come from. A catalog for aws, gcp and azure is built into\n"
     "gpuform; teams can build their own. docs/catalog.md documents the format.\n"
     "\n"
     "catalog list: the cheapest instance type per GPU model, GPU count, cloud and region,\n"
     "sorted by GPU, count and price, with prices per instance and per GPU, and the\n"
     "catalog's name, dates and SHA-256, so a plan can be checked by hand.\n"
     "  --gpu NAME[:COUNT]   one GPU model (aliases work: H100-SXM), optionally a count\n"
     "  --cloud CLOUD        aws, gcp or azure\n"
     "  --region REGION      one region\n"
     "  --spot               rank by spot price; leave out offers without one\n"
     "  --json               a JSON array (documented in docs/catalog.md)\n"
     "  --catalog PATH       list this catalog instead of the bundled one\n"
     "\n"
     "catalog import: convert SkyPilot vms.csv catalogs into gpuform's format. Rows that\n"
     "cannot be offers (fractional or unknown GPUs, no price, no public region) are\n"
     "skipped and counted; GCP GPUs are priced with their host VM as SkyPilot does. The\n"
     "output is written atomically: after an error nothing is written.\n"
     "  --format skypilot    the input format (required; the only one today)\n"
     "  --out PATH           the catalog to write (required)\n"
     "  --cloud CLOUD        read the files as this cloud's and skip files named for\n"
     "                       another (default: from each name: aws_*, gcp_*, azure_*)\n"
     "  --gcp-host-vms FILE  GCP host VM prices (SkyPilot's gcp_gpu_host_vms.csv);\n"
     "                       repeatable\n"
     "  --as-of YYYY-MM-DD   when the prices were observed (default: each file's date)\n"
     "  --source TEXT        where the rows come from (default: SkyPilot catalog FILE)\n"
     "  --only GLOB          keep only instance types matching GLOB ('p5.*'); repeatable\n"
     "  --gpu NAME           keep only this GPU model; repeatable\n"
     "  --merge              keep the offers already in --out; imported ones replace\n"
     "                       offers with the same cloud, zone, type and GPUs\n"
     "\n"
     "catalog update: refresh the on-demand and spot prices of a catalog's rows from the\n"
     "clouds' public price sources (Azure Retail Prices API; AWS price list offer files, on\n"
     "demand only; GCP Cloud Billing Catalog, with an API key). Rows no source prices are\n"
     "kept and counted. Written atomically: after any error the old file is unchanged.\n"
     "  --catalog PATH       the catalog to update (default: the bundled one)\n"
     "  --out PATH           where to write (default: --catalog, else ~/.gpuform/catalog.csv)\n"
     "  --cloud CLOUD        refresh only this cloud; repeatable (default: all; gcp only\n"
     "                       when its API key is set)\n"
     "  --gcp-api-key-env NAME  the variable holding the GCP API key (GPUFORM_GCP_API_KEY)\n"
     "  --as-of YYYY-MM-DD   the date refreshed rows get (default: today, UTC)\n"
     "  --azure-url URL, --aws-url URL, --gcp-url URL   other endpoints (mirrors, tests);\n"
     "                       also GPUFORM_AZURE_PRICES_URL, _AWS_, _GCP_\n"
     "  --aws-format csv|json  AWS offer files as CSV, streamed (default), or JSON, read\n"
     "                       whole (for mirrors of filtered files)\n"
     "  --aws-max-mb N       the largest AWS offer file read (default 16384 for CSV,\n"
     "                       1024 for JSON)\n"
     "\n"
     "exit status: 0 success, 1 error\n"},
    {"cloudsim", cmd_cloudsim,
     "serve simulated clouds (EC2, Compute Engine, Azure) on loopback for tests",
     "usage: gpuform cloudsim [--listen HOST:PORT] [--config FILE] [--state FILE] [--seed N]\n"
     "                        [--gcp-key FILE]\n"
     "       gpuform cloudsim --admin URL health|list|fault KIND COUNT|fault KIND rate R|\n"
     "                                    reclaim INSTANCE_ID\n"
     "\n"
     "Serves simulated clouds on HOST:PORT (default 127.0.0.1:0: any free port) and\n"
     "prints the endpoint: AWS EC2 (Query API 2016-11-15; SigV4-signed with the credentials\n"
     "in its environment, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or listed in the\n"
     "config), GCP Compute Engine v1 (OAuth2 tokens for a service account: the one\n"
     "GOOGLE_APPLICATION_CREDENTIALS names, else one made up whose key file it prints)\n"
     "and Azure Resource Manager (bearer tokens from a simulated Entra ID for the\n"
     "AZURE_* service principal in its environment, or listed in the config).\n"
     "The world (inventory, capacity, quotas, latency, token\n"
     "buckets, injected faults, spot interruptions, seed) comes from --config;\n"
     "docs/cloudsim.md documents it and the admin view under /_cloudsim/.\n"
     "\n"
     "options:\n"
     "  --listen HOST:PORT   where to listen (PORT 0 picks a free port)\n"
     "  --config FILE        the world config (YAML; default: every region of aws, gcp and\n"
     "                       azure in the bundled catalog, unlimited capacity, no faults)\n"
     "  --state FILE         keep the world in FILE (JSON) so it survives a restart\n"
     "  --seed N             override the config's seed\n"
     "  --gcp-key FILE       where to write the key file of the GCP service account made up\n"
     "                       when GOOGLE_APPLICATION_CREDENTIALS names none (default: beside\n"
     "                       --state, else a private temporary directory)\n"
     "  --admin URL ...      ask a running cloudsim at URL: its health, its instances\n"
     "                       (JSON), arm a fault (capacity, internal, unavailable,\n"
     "                       throttle, timeout, malformed) for COUNT requests or at a\n"
     "                       rate, or reclaim a spot instance now\n"
     "  -h, --help           show this help\n"
     "\n"
     "Stops on SIGINT or SIGTERM. exit status: 0 stopped cleanly, 1 error\n"},
    {"verify", cmd_verify, "check this host's GPUs, or verify a stack's running nodes again",
     "usage: gpuform verify [--level quick|full] [--json] [--backend cuda|cpu]\n"
     "                      [--inject KIND]... [--inject-gpu N]...\n"
     "                      [--instance-type TYPE [--catalog PATH]] [--mem-mib N]\n"
     "                      [--devices N] [--serial] [--baseline FILE]\n"
     "       gpuform verify --calibrate [--runs N] [--out FILE] [--level ...] [--backend ...]\n"
     "       gpuform verify --agent --address ADDRESS --key-file PATH [--level L] ...\n"
     "       gpuform verify --agent --watch --cloud aws|gcp|azure --address ADDRESS\n"
     "                      --key-file PATH [--interval SECONDS] [--once] ...\n"
     "       gpuform verify [--stack PATH] [--sim[=CONFIG]] [--level quick|full]\n"
     "                      [--timeout DUR] [--lock-timeout DUR] [--json] ADDRESS...\n"
     "\n"
     "Runs the node checks on this host: inventory, memory integrity (patterns with a\n"
     "second read), memory bandwidth (copy, triad), FP32 FMA, GEMM (repeated runs\n"
     "bit-identical, sampled entries checked on the CPU), host<->device and peer\n"
     "bandwidth, and the NVML health counters; each per GPU against the model's\n"
     "datasheet figures, or a calibrated baseline's (docs/verify.md has the checks,\n"
     "thresholds, baseline format and JSON). Each GPU is checked on a host thread of its\n"
     "own; host<->device copies take turns and peer copies run after them.\n"
     "\n"
     "options:\n"
     "  --level LEVEL        quick (default: the gate before work) or full (onboarding)\n"
     "  --json               print the report as JSON (docs/verify.md)\n"
     "  --backend NAME       cuda: the CUDA kernels, on a GPU (the default; where no GPU\n"
     "                       is usable, the default says so and runs the CPU reference);\n"
     "                       cpu: the CPU reference, the same patterns, comparisons and\n"
     "                       verdicts on host memory (runs anywhere; not a GPU check)\n"
     "  --inject KIND        inject a fault to see the check that catches it\n"
     "                       (repeatable): mem_bitflip, gemm_corrupt, nan, slow_bw,\n"
     "                       hide_gpu, nvml_ecc, xid\n"
     "  --instance-type TYPE expect the GPU count and model the catalog gives TYPE\n"
     "  --catalog PATH       look TYPE up in this catalog (default: the bundled one)\n"
     "  --mem-mib N          bytes per device to test, in MiB (cpu default 64 quick,\n"
     "                       256 full; cuda default 90% of free memory)\n"
     "  --inject-gpu N       land the --inject faults on device N only (repeatable)\n"
     "  --devices N          cpu: simulate N devices (1-16; default 1, or what\n"
     "                       --instance-type promises)\n"
     "  --serial             check the devices one after another, not in parallel\n"
     "  --calibrate          record this healthy node's rates as a baseline: the median\n"
     "                       of --runs runs (default 3); nothing is written if a check\n"
     "                       fails\n"
     "  --out FILE           write the baseline there (default: standard output)\n"
     "  --runs N             calibration runs, 1-20\n"
     "  --baseline FILE      expected rates from a baseline (fail below 0.85 x its\n"
     "                       median) instead of the datasheet; a baseline for another\n"
     "                       model, backend or level is refused\n"
     "  --agent              the verify agent a node's boot script runs during a gated\n"
     "                       apply: the report as a framed block signed with the node's\n"
     "                       key on stdout, for the serial console (docs/verify.md)\n"
     "  --address ADDRESS    (--agent) the node the report speaks for\n"
     "  --key-file PATH      (--agent) the node's key: 64 hex digits\n"
     "  --request NONCE      (--agent) the re-verification request the report answers\n"
     "  --watch              (--agent) answer re-verification requests: read the\n"
     "                       request (LEVEL:NONCE) gpuform set on this instance from\n"
     "                       the cloud's instance metadata service and, for each new\n"
     "                       nonce, run that level and print the signed block answering\n"
     "                       it (docs/verify.md, 'The watcher')\n"
     "  --cloud NAME         (--watch) whose metadata service: aws, gcp or azure\n"
     "  --interval SECONDS   (--watch) between reads, 1-86400 (default 30)\n"
     "  --once               (--watch) read once, answer a new request, and exit\n"
     "  -h, --help           show this help\n"
     "\n"
     "With ADDRESS (a node, 'chat[0]', or a whole workload, 'chat'), the stack's running\n"
     "nodes verify themselves again, without any connection to them: gpuform sets their\n"
     "gpuform-verify-request tag (EC2, Azure) or metadata item (GCE) to LEVEL:NONCE, the\n"
     "node's 'gpuform verify --agent --watch' prints a report answering NONCE signed with\n"
     "its key on the serial console, and gpuform reads it back. The state records passed or\n"
     "failed; a failed node is tainted (the next apply replaces it) unless the policies'\n"
     "on_verify accepts it. Nodes created without the agent (verify 'none') are refused\n"
     "(docs/verify.md, 'Verifying running nodes'). Options with ADDRESS:\n"
     "  --stack PATH         the stack (default: the current directory)\n"
     "  --sim[=CONFIG]       against cloudsim in this process, as 'apply --sim'\n"
     "  --level LEVEL        the level asked for (default: the node's workload's, else quick)\n"
     "  --timeout DUR        wait this long for every answer (default 15m; 30m with full)\n"
     "  --lock-timeout DUR   wait this long for the state's lock to record the outcome\n"
     "  --json               one JSON result per node: address, status (passed, failed,\n"
     "                       unverified), level, request, detail, recorded, report\n"
     "\n"
     "Without a usable GPU (no driver, no device, or a gpuform built without nvcc) the\n"
     "cuda backend says why and exits 1. A gated apply verifies each node once created,\n"
     "for workloads with 'verify: quick' or 'full' (docs/verify.md, 'Gated apply').\n"
     "The CUDA kernels are compiled but have not yet run on a GPU.\n"
     "\n"
     "exit status: 0 every check passed or warned (every node passed), 1 a check failed or\n"
     "verify could not run (a node failed or could not be verified); --watch --once: 0 no\n"
     "new request or its answer passed, 1 the answer failed or the metadata service could\n"
     "not be read (--watch alone runs until stopped)\n"},
    {"version", cmd_version, "print the version, build and library versions",
     "usage: gpuform version\n"
     "\n"
     "Prints gpuform's version and git revision, the versions of the libraries it runs\n"
     "with, and whether GPU verification is available in this build.\n"},
    {"help", cmd_help, "show help for gpuform or for one command",
     "usage: gpuform help [COMMAND]\n"},
    {NULL, NULL, NULL, NULL},
};

const struct cli_command *cli_find(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

bool cli_use_color(FILE *f)
{
    const char *no = getenv("NO_COLOR");
    if (no && *no)
        return false;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(fileno(f));
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("gpuform: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    fputs(cmd->usage, stderr);
    return CLI_ERROR;
}

static void print_overview(FILE *f)
{
    fputs("usage: gpuform <command> [options]\n"
          "\n"
          "gpuform manages GPU fleets across clouds from declarative specs (stacks).\n"
          "It checks and plans stacks, applies them through the clouds' APIs (AWS, GCP and\n"
          "Azure; simulated clouds with --sim), and verifies GPUs.\n"
          "\n"
          "commands:\n",
          f);
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fputs("\n'gpuform <command> --help' shows a command's options.\n"
          "exit status: 0 success, 1 error, 2 changes present (with --detailed-exitcode)\n",
          f);
}

int cmd_help(int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error(cli_find("help"), "help takes one command name");
    if (argc == 2 && strcmp(argv[1], "-h") && strcmp(argv[1], "--help")) {
        const struct cli_command *c = cli_find(argv[1]);
        if (!c) {
            fprintf(stderr, "gpuform: unknown command '%s'; 'gpuform help' lists them\n", argv[1]);
            return CLI_ERROR;
        }
        fputs(c->usage, stdout);
        return CLI_OK;
    }
    print_overview(stdout);
    return CLI_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return CLI_ERROR;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help"))
        name = "help";
    else if (!strcmp(name, "--version") || !strcmp(name, "-V"))
        name = "version";
    const struct cli_command *c = cli_find(name);
    if (!c) {
        fprintf(stderr, "gpuform: unknown command '%s'; 'gpuform help' lists the commands\n",
                argv[1]);
        return CLI_ERROR;
    }
    /* `gpuform CMD --help` anywhere before a "--" shows the command's usage. */
    for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(c->usage, stdout);
            return CLI_OK;
        }
    return c->run(argc - 1, argv + 1);
}
