/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "golemctl-output.h"
#include "time-util.h"
#include "validate.h"
#include "vm-spec.h"
#include "wire-advertisement.h"

/* What golemctl reads from the network, checked before use: advertisements from the
 * discovery service (advertisement_from_json() with ADVERTISEMENT_SERVED, wire-advertisement.h),
 * and VMs, jobs and access data from providers. Each parser takes the JSON value as it came
 * and fills a struct of fixed-size, printable fields, or returns -EBADMSG with *ret_field
 * naming the field that was wrong. */

#define VM_NAME_MAX 63
#define VM_STATUS_MAX 32
#define JOB_ID_MAX 64
#define STAGE_MAX 80
#define SSH_HOST_MAX 253
#define WIRE_MESSAGE_MAX 1024

/* How golemctl shows an advertisement: {"provider_id","ip_address","url","country","platform",
 * "resources":{"cpu","memory","storage"},"updated_at"}, url, platform and updated_at null when
 * unknown. advertisement_write_json() writes that object as the next value of w;
 * advertisement_to_output_json() is the same as a json-c object (NULL on OOM). */
void advertisement_write_json(JsonWriter *w, const Advertisement *a, const char *url);
json_object *advertisement_to_output_json(const Advertisement *a, const char *url);

/* Takes a JSON array apart one element at a time, for answers too long to hold as one tree:
 * each element is parsed with json-c (strict syntax, UTF-8 checked, the nesting limit of
 * json_parse() counting the array), given to element() (as NULL for a JSON null) and freed
 * before the next is read. -EBADMSG when buf is not JSON (a NUL byte, bad syntax, anything
 * but whitespace after the array), -EMEDIUMTYPE when it is JSON but not an array, or what
 * element() returned when that was negative (which stops the walk). An element that is read
 * and accepted before a later one turns out bad has been given to element() already. Unlike
 * json_parse() the UTF-8 check is json-c's (the shape of each sequence), which is enough for
 * callers that check every string they keep against a narrow character set. */
typedef int (*JsonElementFunc)(json_object *element, void *userdata);
int json_array_parse_each(const char *buf, size_t size, JsonElementFunc element, void *userdata);

typedef struct RemoteVM {
        char name[VM_NAME_MAX + 1];
        char status[VM_STATUS_MAX + 1];         /* creating, running, ... (a token) */
        Resources resources;
        char image[VM_IMAGE_MAX + 1];           /* "" when absent */
        char ip_address[IP_ADDRESS_MAX];        /* "" when absent */
        uint16_t ssh_port;                      /* 0 when absent */
        usec_t created_at;                      /* 0 when absent */
        char error_message[WIRE_MESSAGE_MAX + 1]; /* printable; "" when absent */
} RemoteVM;

int remote_vm_from_json(json_object *o, RemoteVM *ret, const char **ret_field);

typedef struct Job {
        char job_id[JOB_ID_MAX + 1];
        char vm_id[VM_NAME_MAX + 1];
        JobStatus status;
        int progress;                           /* 0-100, or -1 when unknown */
        char stage[STAGE_MAX + 1];              /* printable; "" when absent */
        char error[WIRE_MESSAGE_MAX + 1];       /* printable; "" when absent */
} Job;

/* A job, or the 202 answer of an asynchronous create (which has no progress yet). */
int job_from_json(json_object *o, Job *ret, const char **ret_field);

typedef struct Access {
        char ssh_host[SSH_HOST_MAX + 1];        /* an IP address (canonical) or a host name */
        uint16_t ssh_port;
} Access;

int access_from_json(json_object *o, Access *ret, const char **ret_field);

/* A host name: dot-separated labels of [A-Za-z0-9-], not starting with '-'. */
bool hostname_valid(const char *s);
