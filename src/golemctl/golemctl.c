/* SPDX-License-Identifier: MIT */
/* golemctl: the requestor's tool. Finds providers through the discovery service, creates VMs
 * on them over their REST API, keeps a local record of them and logs in with ssh. */

#include <getopt.h>
#include <locale.h>
#include <stdio.h>

#include "golemctl-admin.h"
#include "golemctl-http.h"
#include "golemctl-identity.h"
#include "golemctl-providers.h"
#include "golemctl-ssh.h"
#include "golemctl-util.h"
#include "golemctl-verbs.h"
#include "golemctl-vm-action.h"
#include "golemctl-vm-create.h"
#include "golemctl-vm-key.h"
#include "golemctl-vm-list.h"
#include "golemctl-vm-ssh.h"
#include "parse-util.h"
#include "validate.h"

#ifndef GOLEM_VERSION
#define GOLEM_VERSION "0"
#endif

/* The verb-specific options; a verb lists the ones it takes. */
enum {
        OPT_CPU           = 1 << 0,
        OPT_MEMORY        = 1 << 1,
        OPT_STORAGE       = 1 << 2,
        OPT_COUNTRY       = 1 << 3,
        OPT_SIZE          = 1 << 4,
        OPT_PROVIDER      = 1 << 5,
        OPT_PROVIDER_URL  = 1 << 6,
        OPT_DISCOVERY_URL = 1 << 7,
        OPT_IMAGE         = 1 << 8,
        OPT_SSH_KEY       = 1 << 9,
        OPT_NO_WAIT       = 1 << 10,
        OPT_USER          = 1 << 11,
        OPT_FORCE         = 1 << 12,
        OPT_JSON          = 1 << 13,
        OPT_LOCAL         = 1 << 14,
        OPT_BUS           = 1 << 15,  /* -H, --no-ask-password; one name in option_names */
        OPT_LIMIT         = 1 << 16,
        OPT_UNVERIFIED    = 1 << 17,
        OPT_KEY_NAME      = 1 << 18,
};

static const char *const option_names[] = {
        "--cpu", "--memory", "--storage", "--country", "--size", "--provider", "--provider-url",
        "--discovery-url", "--image", "--ssh-key", "--no-wait", "--user", "--force", "--json", "--local",
        "--host or --no-ask-password", "--limit", "--unverified", "--name",
};

#define RESOURCE_OPTION_HELP \
        "     --cpu=N             At least N CPU cores free\n" \
        "     --memory=GB         At least GB gigabytes of memory free\n" \
        "     --storage=GB        At least GB gigabytes of storage free\n" \
        "     --country=CC        Only providers in this country (ISO 3166 code, e.g. SE)\n" \
        "     --unverified        Also providers whose advertisement is not signed by them\n"

static const Verb vm_key_verbs[] = {
        { "add", 2, 3, 0, verb_vm_key_add, OPT_KEY_NAME | OPT_JSON,
          "vm ssh-key add NAME [PATH]", "Let another SSH key log in to a VM",
          "Add the public key PATH (a .pub file, or the private key next to it: only its .pub is\n"
          "read and sent) to VM NAME, which lets it log in at once and after a restart. Without\n"
          "PATH, the key golemctl is configured with (see 'vm create --help').\n"
          "\n"
          "Options:\n"
          "     --name=N            The key's name on the VM (default: the key's comment, else\n"
          "                         the file's name): 1-64 of A-Z, a-z, 0-9, '.', '_', '@', '-'\n"
          "     --json=FORMAT       Print the provider's answer as JSON (pretty, short, off)\n",
          NULL },
        { "list", 2, 2, 0, verb_vm_key_list, OPT_JSON,
          "vm ssh-key list NAME", "List the SSH keys of a VM",
          "List the names and fingerprints of the SSH keys that may log in to VM NAME.\n"
          "\n"
          "Options:\n"
          "     --json=FORMAT       Print the list as JSON (pretty, short, off)\n"
          "     --no-legend         Print no header and no legend\n",
          NULL },
        { "remove", 3, 3, 0, verb_vm_key_remove, OPT_JSON,
          "vm ssh-key remove NAME N", "Stop an SSH key from logging in to a VM",
          "Remove the SSH key called N from VM NAME: it can no longer log in.\n"
          "\n"
          "Options:\n"
          "     --json=FORMAT       Print the outcome as JSON (pretty, short, off)\n",
          NULL },
        {}
};

static const Verb vm_verbs[] = {
        { "create", 2, 2, 0, verb_vm_create,
          OPT_CPU | OPT_MEMORY | OPT_STORAGE | OPT_COUNTRY | OPT_SIZE | OPT_PROVIDER | OPT_PROVIDER_URL |
          OPT_DISCOVERY_URL | OPT_IMAGE | OPT_SSH_KEY | OPT_NO_WAIT | OPT_JSON | OPT_UNVERIFIED,
          "vm create NAME [OPTIONS...]",
          "Create a VM on the best-fitting provider",
          "Create a VM called NAME and wait until it runs. On a terminal the provider's progress\n"
          "is shown; in a script golemctl is quiet until the end.\n"
          "\n"
          "Without --provider, the discovery service is asked for verified providers (whose\n"
          "advertisement is signed by their own key) whose free resources cover the request, and\n"
          "the best fit is taken: the one that would have the\n"
          "least left over, counted in units of the request (free CPU/requested CPU + free\n"
          "memory/requested memory + free storage/requested storage, smallest wins), the lowest\n"
          "provider id among equals. golemctl says which provider it chose and why.\n"
          "\n"
          "The VM gets the public key of --ssh-key, else of SSHKeyPath= (golemctl.conf) or\n"
          "$GOLEM_REQUESTOR_SSH_KEY_PATH, else ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub,\n"
          "else of a key made with ssh-keygen in ~/.local/share/golem/. Every request is signed\n"
          "with the configured key (see 'golemctl id'), which makes you the VM's owner.\n"
          "\n"
          "Options:\n"
          "     --size=SIZE         small (1 CPU, 1 GB memory, 10 GB storage; the default),\n"
          "                         medium (2/4/20), large (4/8/40) or xlarge (8/16/80)\n"
          "     --cpu=N             CPU cores (instead of the size's)\n"
          "     --memory=GB         Memory in GB (instead of the size's)\n"
          "     --storage=GB        Storage in GB (instead of the size's)\n"
          "     --country=CC        Only a provider in this country (ISO 3166 code)\n"
          "     --provider=ID       This provider, not the best fit\n"
          "     --unverified        Also providers whose advertisement is not signed by them\n"
          "     --image=IMAGE       The image to run (default: the provider's, e.g. ubuntu:24.04)\n"
          "     --ssh-key=PATH      The private key to log in with; its .pub goes to the VM\n"
          "     --no-wait           Return once the provider has accepted the request\n"
          "     --json=FORMAT       Print the VM as JSON (pretty, short, off)\n",
          NULL },
        { "list", VERB_ANY, 1, VERB_DEFAULT, verb_vm_list, OPT_JSON | OPT_LOCAL,
          "vm list",
          "List your VMs with their live state",
          "List the VMs created with golemctl, each with its state as its provider tells it (all\n"
          "providers are asked at once). A VM whose provider does not answer is shown as\n"
          "'unreachable', one its provider does not know as 'missing'.\n"
          "\n"
          "Options:\n"
          "     --local             Only what is recorded here; ask no provider\n"
          "     --json=FORMAT       Print the list as JSON (pretty, short, off)\n"
          "     --no-legend         Print no header and no legend\n",
          NULL },
        { "status", 2, 2, 0, verb_vm_status, OPT_JSON,
          "vm status NAME",
          "Show a VM's state, resources and SSH access",
          "Show what golemctl recorded of VM NAME and what its provider says about it now.\n"
          "Fails when the provider cannot be reached or does not know the VM.\n"
          "\n"
          "Options:\n"
          "     --json=FORMAT       Print the VM as JSON (pretty, short, off)\n",
          NULL },
        { "start", 2, 2, 0, verb_vm_start, OPT_JSON,
          "vm start NAME",
          "Start a stopped VM",
          "Start VM NAME and wait until it runs.\n"
          "\n"
          "Options:\n"
          "     --json=FORMAT       Print the VM as JSON afterwards (pretty, short, off)\n",
          NULL },
        { "stop", 2, 2, 0, verb_vm_stop, OPT_JSON,
          "vm stop NAME",
          "Stop a running VM",
          "Stop VM NAME and wait until it has stopped. Its resources stay reserved.\n"
          "\n"
          "Options:\n"
          "     --json=FORMAT       Print the VM as JSON afterwards (pretty, short, off)\n",
          NULL },
        { "destroy", 2, 2, 0, verb_vm_destroy, OPT_JSON | OPT_FORCE,
          "vm destroy NAME",
          "Delete a VM and forget it",
          "Delete VM NAME on its provider, then remove golemctl's record of it and its\n"
          "known-hosts file. A VM its provider no longer knows is just forgotten.\n"
          "\n"
          "Options:\n"
          "     --force             Forget the VM even when its provider cannot delete it, or\n"
          "                         golemctl's key cannot sign the request\n"
          "     --json=FORMAT       Print the outcome as JSON (pretty, short, off)\n",
          NULL },
        { "ssh", 2, VERB_ANY, 0, verb_vm_ssh, OPT_USER | OPT_SSH_KEY,
          "vm ssh NAME [-- COMMAND...]",
          "Log in to a VM, or run COMMAND there",
          "Run ssh to VM NAME through the port its provider forwards, with the key it was\n"
          "created with. Each VM has a known-hosts file of its own in\n"
          "~/.local/state/golem/known_hosts/: its host key is trusted the first time and\n"
          "pinned after that. Put '--' before a COMMAND that has options of its own.\n"
          "\n"
          "Options:\n"
          "     --user=USER         Log in as USER (default: ubuntu)\n"
          "     --ssh-key=PATH      Log in with this private key instead\n",
          NULL },
        { "ssh-key", VERB_ANY, VERB_ANY, 0, NULL, 0,
          "vm ssh-key COMMAND NAME ...", "Add, list and remove a VM's SSH keys",
          NULL, vm_key_verbs },
        {}
};

#define BUS_OPTION_HELP \
        "  -H --host=[USER@]HOST   The provider on HOST (its system bus, over ssh)\n" \
        "     --no-ask-password   Never ask for a password; fail if polkit wants one\n"

static const Verb provider_vm_verbs[] = {
        { "start", 2, 2, 0, verb_provider_vm_operation, OPT_BUS,
          "provider vm start NAME", "Start a VM of this provider",
          "Start VM NAME of the provider on this machine and wait until it runs.\n\nOptions:\n" BUS_OPTION_HELP, NULL },
        { "stop", 2, 2, 0, verb_provider_vm_operation, OPT_BUS,
          "provider vm stop NAME", "Stop a VM of this provider",
          "Stop VM NAME of the provider on this machine and wait until it stopped.\n\nOptions:\n" BUS_OPTION_HELP, NULL },
        { "delete", 2, 2, 0, verb_provider_vm_operation, OPT_BUS,
          "provider vm delete NAME", "Delete a VM of this provider",
          "Delete VM NAME of the provider on this machine, with its disk.\n\nOptions:\n" BUS_OPTION_HELP, NULL },
        {}
};

static const Verb provider_verbs[] = {
        { "status", VERB_ANY, 1, 0, verb_provider_status, OPT_BUS | OPT_JSON,
          "provider status", "Show the provider's identity and free resources",
          "Show the identity, advertising state and free resources of the provider on this\n"
          "machine (org.golem.Provider1 on the system bus). Anyone may read them.\n\nOptions:\n"
          BUS_OPTION_HELP
          "     --json=FORMAT       Print it as JSON (pretty, short, off)\n", NULL },
        { "vms", VERB_ANY, 1, 0, verb_provider_vms, OPT_BUS | OPT_JSON,
          "provider vms", "List every VM of this provider",
          "List all VMs the provider on this machine runs, whoever rented them.\n\nOptions:\n"
          BUS_OPTION_HELP
          "     --json=FORMAT       Print the list as JSON (pretty, short, off)\n"
          "     --no-legend         Print no header and no legend\n", NULL },
        { "advertise", 2, 2, 0, verb_provider_advertise, OPT_BUS,
          "provider advertise on|off", "Turn advertising to the discovery service on or off",
          "Turn the provider's advertisement on or off; off withdraws it at once. Needs the\n"
          "org.golem.provider1.configure polkit authorization.\n\nOptions:\n" BUS_OPTION_HELP, NULL },
        { "vm", VERB_ANY, VERB_ANY, 0, NULL, 0,
          "provider vm COMMAND NAME", "Start, stop or delete one of the provider's VMs",
          NULL, provider_vm_verbs },
        {}
};

static const Verb verbs[] = {
        { "providers", VERB_ANY, 1, 0, verb_providers,
          OPT_CPU | OPT_MEMORY | OPT_STORAGE | OPT_COUNTRY | OPT_DISCOVERY_URL | OPT_JSON | OPT_LIMIT | OPT_UNVERIFIED,
          "providers [OPTIONS...]",
          "List the providers advertising free resources",
          "List the providers the discovery service knows, with the resources they have free,\n"
          "best first (most CPU, then memory, then storage). golemctl asks for the first 1000;\n"
          "when the service may have more, it says so on standard error (unless -q).\n"
          "Only verified providers (whose advertisement is signed by their own key) are listed,\n"
          "unless --unverified.\n"
          "\n"
          "Options:\n"
          RESOURCE_OPTION_HELP
          "     --limit=N           Ask for the first N providers only, 1-1000 (default: 1000)\n"
          "     --json=FORMAT       Print the list as JSON (pretty, short, off)\n"
          "     --no-legend         Print no header and no legend\n",
          NULL },
        { "id", VERB_ANY, 1, 0, verb_id, OPT_JSON,
          "id",
          "Show the identity golemctl signs requests with",
          "Print the identity providers know you by: the SHA-256 fingerprint of the SSH key\n"
          "golemctl signs every request to a provider with, in base64url (what\n"
          "'ssh-keygen -lf KEY.pub' prints after SHA256:, with '-' and '_' for '+' and '/').\n"
          "The key is SSHKeyPath= (golemctl.conf) or $GOLEM_REQUESTOR_SSH_KEY_PATH, else\n"
          "~/.ssh/id_ed25519, else ~/.ssh/id_rsa, else golemctl's own; it signs through ssh-agent\n"
          "when the agent holds it, else from the key file, which must then have no passphrase.\n"
          "\n"
          "Options:\n"
          "     --json=FORMAT       Print the identity, the key's path and where the signatures\n"
          "                         come from (\"agent\" or \"file\") as JSON\n",
          NULL },
        { "vm", VERB_ANY, VERB_ANY, VERB_DEFAULT, NULL, 0,
          "vm COMMAND ...",
          "Create, list and manage VMs",
          NULL,
          vm_verbs },
        { "provider", VERB_ANY, VERB_ANY, 0, NULL, 0,
          "provider COMMAND ...",
          "Manage the provider on this machine (over D-Bus)",
          NULL,
          provider_verbs },
        {}
};

static void help_commands(const Verb *table, const char *title) {
        printf("%s:\n", title);
        for (const Verb *v = table; v->name; v++)
                printf("  %-30s %s\n", v->synopsis, v->summary);
}

static void help(void) {
        printf("golemctl [OPTIONS...] COMMAND ...\n"
               "\n"
               "Find providers on the Golem network, rent VMs from them and log in.\n"
               "\n");
        help_commands(verbs, "Commands");
        printf("\n");
        help_commands(vm_verbs, "VM commands");
        printf("\n");
        help_commands(vm_key_verbs, "VM SSH key commands");
        printf("\n");
        help_commands(provider_verbs, "Provider commands (the provider on this machine, over D-Bus)");
        printf("\n");
        help_commands(provider_vm_verbs, "Provider VM commands");
        printf("\n"
               "Options:\n"
               "  -h --help                Show this help, or a command's (golemctl vm create --help)\n"
               "     --version             Show the version\n"
               "     --json=FORMAT         Print data as JSON: pretty, short or off\n"
               "  -j                       --json=pretty on a terminal, --json=short otherwise\n"
               "     --no-legend           Print tables without header and legend\n"
               "     --no-pager            Never pipe output into a pager\n"
               "  -q --quiet               Print no notes and no progress\n"
               "     --discovery-url=URL   The discovery service (default: DiscoveryURL= in\n"
               "                           ~/.config/golem/golemctl.conf or $GOLEM_REQUESTOR_DISCOVERY_URL,\n"
               "                           else %s)\n"
               "  -H --host=[USER@]HOST    provider commands: the provider on HOST (over ssh)\n"
               "     --no-ask-password     provider commands: never ask for a password (polkit)\n"
               "\n"
               "With no command, 'vm list' runs. See golemctl(1) for more.\n",
               DEFAULT_DISCOVERY_URL);
}

static void help_verb(const Verb *v, const char *path) {
        if (v->children) {
                printf("golemctl %s\n\n%s.\n\n", v->synopsis, v->summary);
                help_commands(v->children, "Commands");
                printf("\nSee 'golemctl %s COMMAND --help'.\n", path);
                return;
        }
        printf("golemctl %s\n\n%s\n", v->synopsis, v->help);
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_NO_LEGEND,
        ARG_NO_PAGER,
        ARG_CPU,
        ARG_MEMORY,
        ARG_STORAGE,
        ARG_COUNTRY,
        ARG_SIZE,
        ARG_PROVIDER,
        ARG_PROVIDER_URL,
        ARG_DISCOVERY_URL,
        ARG_IMAGE,
        ARG_SSH_KEY,
        ARG_NO_WAIT,
        ARG_USER,
        ARG_FORCE,
        ARG_LOCAL,
        ARG_NO_ASK_PASSWORD,
        ARG_LIMIT,
        ARG_UNVERIFIED,
        ARG_NAME,
};

typedef struct Args {
        bool help;
        bool version;
        uint64_t seen;          /* OPT_* given */
} Args;

static int parse_resource(const char *option, const char *arg, int64_t *ret) {
        uint64_t v;

        if (parse_uint_range(arg, 1, INT32_MAX, &v) < 0)
                return ctl_usage("Invalid value for %s: '%s' (a whole number from 1).", option, arg);
        *ret = (int64_t) v;
        return 0;
}

static int set_string(char **p, const char *arg) {
        return free_and_strdup(p, arg) < 0 ? ctl_error(-ENOMEM, "Out of memory.") : 0;
}

static int parse_argv(int argc, char *argv[], Context *c, Args *a) {
        static const struct option options[] = {
                { "help",          no_argument,       NULL, 'h'               },
                { "version",       no_argument,       NULL, ARG_VERSION       },
                { "json",          required_argument, NULL, ARG_JSON          },
                { "no-legend",     no_argument,       NULL, ARG_NO_LEGEND     },
                { "no-pager",      no_argument,       NULL, ARG_NO_PAGER      },
                { "quiet",         no_argument,       NULL, 'q'               },
                { "cpu",           required_argument, NULL, ARG_CPU           },
                { "memory",        required_argument, NULL, ARG_MEMORY        },
                { "storage",       required_argument, NULL, ARG_STORAGE       },
                { "country",       required_argument, NULL, ARG_COUNTRY       },
                { "size",          required_argument, NULL, ARG_SIZE          },
                { "provider",      required_argument, NULL, ARG_PROVIDER      },
                { "provider-url",  required_argument, NULL, ARG_PROVIDER_URL  },
                { "discovery-url", required_argument, NULL, ARG_DISCOVERY_URL },
                { "image",         required_argument, NULL, ARG_IMAGE         },
                { "ssh-key",       required_argument, NULL, ARG_SSH_KEY       },
                { "no-wait",       no_argument,       NULL, ARG_NO_WAIT       },
                { "user",          required_argument, NULL, ARG_USER          },
                { "force",         no_argument,       NULL, ARG_FORCE         },
                { "local",         no_argument,       NULL, ARG_LOCAL         },
                { "host",          required_argument, NULL, 'H'               },
                { "no-ask-password", no_argument,     NULL, ARG_NO_ASK_PASSWORD },
                { "limit",         required_argument, NULL, ARG_LIMIT         },
                { "unverified",    no_argument,       NULL, ARG_UNVERIFIED    },
                { "name",          required_argument, NULL, ARG_NAME          },
                {}
        };
        int opt, r;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hqjH:", options, NULL)) >= 0) {
                switch (opt) {
                case 'h':
                        a->help = true;
                        break;
                case ARG_VERSION:
                        a->version = true;
                        break;
                case ARG_JSON:
                        c->json = json_format_from_string(optarg);
                        if (c->json < 0)
                                return ctl_usage("Invalid value for --json: '%s' (pretty, short or off).", optarg);
                        a->seen |= c->json != JSON_FORMAT_OFF ? OPT_JSON : 0;
                        break;
                case 'j':
                        c->json = isatty(STDOUT_FILENO) > 0 ? JSON_FORMAT_PRETTY : JSON_FORMAT_SHORT;
                        a->seen |= OPT_JSON;
                        break;
                case ARG_NO_LEGEND:
                        c->legend = false;
                        break;
                case ARG_NO_PAGER:
                        c->pager = false;
                        break;
                case 'q':
                        c->quiet = true;
                        break;
                case ARG_CPU:
                        r = parse_resource("--cpu", optarg, &c->cpu);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_CPU;
                        break;
                case ARG_MEMORY:
                        r = parse_resource("--memory", optarg, &c->memory);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_MEMORY;
                        break;
                case ARG_STORAGE:
                        r = parse_resource("--storage", optarg, &c->storage);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_STORAGE;
                        break;
                case ARG_COUNTRY:
                        if (country_code_canonicalize(optarg, c->country) < 0)
                                return ctl_usage("Invalid country '%s': an ISO 3166 alpha-2 code such as SE.", optarg);
                        a->seen |= OPT_COUNTRY;
                        break;
                case ARG_SIZE:
                        c->size = vm_size_from_string(optarg);
                        if (c->size < 0)
                                return ctl_usage("Invalid size '%s': small, medium, large or xlarge.", optarg);
                        a->seen |= OPT_SIZE;
                        break;
                case ARG_PROVIDER:
                        if (!provider_id_valid(optarg))
                                return ctl_usage("Invalid provider id '%s'.", optarg);
                        r = set_string(&c->provider_id, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_PROVIDER;
                        break;
                case ARG_PROVIDER_URL:
                        if (!http_url_valid(optarg))
                                return ctl_usage("Invalid provider URL '%s': an http:// or https:// URL is needed.", optarg);
                        r = set_string(&c->provider_url, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_PROVIDER_URL;
                        break;
                case ARG_DISCOVERY_URL:
                        if (!http_url_valid(optarg))
                                return ctl_usage("Invalid discovery URL '%s': an http:// or https:// URL is needed.", optarg);
                        r = set_string(&c->discovery_url, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_DISCOVERY_URL;
                        break;
                case ARG_IMAGE:
                        if (!vm_image_valid(optarg))
                                return ctl_usage("Invalid image '%s': letters, digits, ':', '.', '_' and '-', "
                                                 "starting with a letter or digit.", optarg);
                        r = set_string(&c->image, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_IMAGE;
                        break;
                case ARG_SSH_KEY:
                        if (isempty(optarg))
                                return ctl_usage("--ssh-key needs a path.");
                        r = set_string(&c->ssh_key, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_SSH_KEY;
                        break;
                case ARG_NO_WAIT:
                        c->no_wait = true;
                        a->seen |= OPT_NO_WAIT;
                        break;
                case ARG_USER:
                        if (!ssh_user_valid(optarg))
                                return ctl_usage("Invalid user name '%s'.", optarg);
                        r = set_string(&c->user, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_USER;
                        break;
                case ARG_FORCE:
                        c->force = true;
                        a->seen |= OPT_FORCE;
                        break;
                case 'H':
                        r = set_string(&c->host, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_BUS;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        c->ask_password = false;
                        a->seen |= OPT_BUS;
                        break;
                case ARG_LOCAL:
                        c->local = true;
                        a->seen |= OPT_LOCAL;
                        break;
                case ARG_UNVERIFIED:
                        c->unverified = true;
                        a->seen |= OPT_UNVERIFIED;
                        break;
                case ARG_NAME:
                        if (!ssh_key_name_valid(optarg))
                                return ctl_usage("Invalid key name '%s': 1-64 of A-Z, a-z, 0-9, '.', '_', '@' and "
                                                 "'-', starting with a letter or digit.", optarg);
                        r = set_string(&c->key_name, optarg);
                        if (r < 0)
                                return r;
                        a->seen |= OPT_KEY_NAME;
                        break;
                case ARG_LIMIT: {
                        uint64_t v;

                        if (parse_uint_range(optarg, 1, DISCOVERY_LIMIT_MAX, &v) < 0)
                                return ctl_usage("Invalid value for --limit: '%s' (a whole number from 1 to %u).",
                                                 optarg, DISCOVERY_LIMIT_MAX);
                        c->limit = (unsigned) v;
                        a->seen |= OPT_LIMIT;
                        break;
                }
                case ':':
                        return ctl_usage("Option %s needs a value.", argv[optind - 1]);
                case '?':
                default:
                        if (optopt > 0 && optopt < 0x100)
                                return ctl_usage("Unknown option -%c; see 'golemctl --help'.", optopt);
                        return ctl_usage("Unknown option %s; see 'golemctl --help'.", argv[optind - 1]);
                }
        }
        return 0;
}

_Static_assert(ELEMENTSOF(option_names) == 19, "one name per OPT_* bit");

static int check_options(const Verb *v, const char *path, uint64_t seen) {
        uint64_t wrong = seen & ~v->options;

        for (size_t i = 0; i < ELEMENTSOF(option_names); i++)
                if (wrong & (UINT64_C(1) << i))
                        return ctl_usage("Option %s does not go with '%s'; see 'golemctl %s --help'.",
                                         option_names[i], path, path);
        return 0;
}

static int check_create(const Context *c) {
        if (c->cpu > VM_CPU_MAX)
                return ctl_usage("--cpu: at most %d cores.", VM_CPU_MAX);
        if (c->memory > VM_MEMORY_MAX)
                return ctl_usage("--memory: at most %d GB.", VM_MEMORY_MAX);
        if (c->storage > VM_STORAGE_MAX)
                return ctl_usage("--storage: at most %d GB.", VM_STORAGE_MAX);
        if (c->provider_url && c->country[0])
                return ctl_usage("--country does not go with --provider-url.");
        return 0;
}

static int run(int argc, char *argv[], Context *c) {
        _cleanup_free_ char *path = NULL, *error = NULL;
        _cleanup_free_ char **verb_argv = NULL;
        const Verb *v;
        Args a = {};
        int depth, n, r;

        r = parse_argv(argc, argv, c, &a);
        if (r < 0)
                return r;
        if (a.version) {
                printf("golemctl %s\n", GOLEM_VERSION);
                return 0;
        }
        if (a.help && optind >= argc) {
                help();
                return 0;
        }

        r = verb_find(verbs, argc - optind, argv + optind, !a.help, &v, &depth, &path, &error);
        if (r == -EUSAGE)
                return ctl_usage("%s See 'golemctl --help'.", error ?: "Unknown command.");
        if (r < 0)
                return ctl_error(r, "Out of memory.");

        if (a.help) {
                help_verb(v, path);
                return 0;
        }

        r = check_options(v, path, a.seen);
        if (r < 0)
                return r;

        /* The verb sees its own name, then its arguments. */
        n = argc - optind - depth;
        verb_argv = calloc((size_t) n + 2, sizeof(char *));
        if (!verb_argv)
                return ctl_error(-ENOMEM, "Out of memory.");
        verb_argv[0] = (char *) v->name;
        for (int i = 0; i < n; i++)
                verb_argv[i + 1] = argv[optind + depth + i];

        r = verb_check_args(v, path, n + 1, &error);
        if (r < 0)
                return ctl_usage("%s", error ?: "Wrong number of arguments.");
        if (v->dispatch == verb_vm_create) {
                r = check_create(c);
                if (r < 0)
                        return r;
        }

        r = context_load(c);
        if (r < 0)
                return r;

        return v->dispatch(n + 1, verb_argv, c);
}

int main(int argc, char *argv[]) {
        Context c;
        int r;

        setlocale(LC_ALL, "");
        context_init(&c);
        r = run(argc, argv, &c);
        context_done(&c);

        if (r == -EUSAGE)
                return 2;
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
