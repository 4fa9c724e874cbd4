/* SPDX-License-Identifier: MIT */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "golemctl-config.h"
#include "golemctl-output.h"
#include "golemctl-signer.h"
#include "macro.h"
#include "vm-spec.h"

/* What every verb gets: the options from the command line, the settings, the paths, and the
 * local state database (opened on first use). */

/* Not an errno: the command line was wrong. main() turns it into exit status 2. */
#define EUSAGE 4096

typedef struct Context {
        /* Output */
        JsonFormat json;
        bool legend;
        bool pager;
        bool quiet;

        /* Resources: minimums for 'providers', the request for 'vm create' (on top of the size) */
        VMSize size;            /* _VM_SIZE_INVALID: not given */
        int64_t cpu, memory, storage;   /* 0: not given */
        char country[3];        /* "": any */
        unsigned limit;         /* 'providers --limit': how many to ask for; 0: the default */

        char *provider_id;      /* --provider */
        char *provider_url;     /* --provider-url: bypasses discovery */
        char *discovery_url;    /* --discovery-url: overrides the settings */
        char *image;            /* --image */
        char *ssh_key;          /* --ssh-key: a private key path */
        char *user;             /* --user, for 'vm ssh' */
        char *key_name;         /* --name, for 'vm ssh-key add' */
        bool no_wait;
        bool force;
        bool local;             /* 'vm list --local': the records only, no provider asked */

        /* The local provider's admin verbs (D-Bus) */
        char *host;             /* -H [USER@]HOST: that machine's system bus, over ssh */
        bool ask_password;      /* polkit may ask interactively (not with --no-ask-password) */

        bool unverified;        /* --unverified: providers whose advertisement is not signed too */

        Settings settings;
        Paths paths;
        sqlite3 *db;
        Signer *signer;         /* loaded on first use: context_signer() */
} Context;

void context_init(Context *c);
void context_done(Context *c);

/* Loads the settings and works out the paths; a one-line error on failure. */
int context_load(Context *c);
/* Opens the state database, creating its directory (0700); a one-line error on failure. */
int context_open_state(Context *c, sqlite3 **ret);

const char *context_discovery_url(const Context *c);

/* One line on stderr, "golemctl: MESSAGE". These return r (or -EUSAGE), so
 * "return ctl_error(r, ...)" works; %m is strerror(-r). */
int ctl_error(int r, const char *format, ...) _printf_(2, 3);
int ctl_usage(const char *format, ...) _printf_(1, 2);
/* A note on stderr, unless -q. */
void ctl_info(const Context *c, const char *format, ...) _printf_(2, 3);
void ctl_warning(const char *format, ...) _printf_(1, 2);
/* After ssh_key_resolve() made golemctl's own key: where it is and what it is for. */
void ctl_key_generated(const Context *c, const char *private_path);

/* Prints a table, its legend ("3 VMs listed.") after a blank line unless --no-legend (which
 * also drops the header), through the pager when long. */
int ctl_show_table(const Context *c, Table *t, const char *legend);
/* Prints a JSON value in the --json format. */
int ctl_show_json(const Context *c, json_object *o);

/* "2 CPU, 4 GB memory, 20 GB storage" */
const char *resources_to_text(const Resources *r, char *buf, size_t size);
#define RESOURCES_TEXT_MAX 96
