/* sluice-trainer's command line: parses each command's options into its module's config and
 * runs it. Exit statuses: 0 success, 1 failure, 2 bad usage or bad input data, 3 when
 * compare finds the new model worse than the baseline. */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <stdio.h>

/* Runs `sluice-trainer argv[1] ...` with reports on out and errors on err; returns the exit
 * status. Safe to call more than once in a process (getopt is reset). */
int sl_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
