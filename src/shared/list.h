/* SPDX-License-Identifier: MIT */
#pragma once

/* An intrusive doubly linked list: the item carries the links, named after the list
 * ("LIST_FIELDS(VM, vms)" gives vms_next and vms_prev), so an item can be on several lists.
 * The head is a plain pointer to the first item. Appending walks the list; lists here are
 * short. */

#define LIST_FIELDS(t, name) t *name##_next, *name##_prev

#define LIST_PREPEND(name, head, item)                                  \
        do {                                                            \
                typeof(*(head)) **_head = &(head), *_item = (item);     \
                _item->name##_prev = NULL;                              \
                _item->name##_next = *_head;                            \
                if (*_head)                                             \
                        (*_head)->name##_prev = _item;                  \
                *_head = _item;                                         \
        } while (0)

#define LIST_APPEND(name, head, item)                                   \
        do {                                                            \
                typeof(*(head)) **_head = &(head), *_item = (item), *_tail = *_head; \
                while (_tail && _tail->name##_next)                     \
                        _tail = _tail->name##_next;                     \
                _item->name##_next = NULL;                              \
                _item->name##_prev = _tail;                             \
                if (_tail)                                              \
                        _tail->name##_next = _item;                     \
                else                                                    \
                        *_head = _item;                                 \
        } while (0)

#define LIST_REMOVE(name, head, item)                                   \
        do {                                                            \
                typeof(*(head)) **_head = &(head), *_item = (item);     \
                if (_item->name##_next)                                 \
                        _item->name##_next->name##_prev = _item->name##_prev; \
                if (_item->name##_prev)                                 \
                        _item->name##_prev->name##_next = _item->name##_next; \
                else if (*_head == _item)                               \
                        *_head = _item->name##_next;                    \
                _item->name##_next = _item->name##_prev = NULL;         \
        } while (0)

#define LIST_FOREACH(name, i, head) \
        for (typeof(head) i = (head); i; i = i->name##_next)

/* Safe when the body removes i. */
#define LIST_FOREACH_SAFE(name, i, n, head) \
        for (typeof(head) i = (head), n = i ? i->name##_next : NULL; i; i = n, n = i ? i->name##_next : NULL)

/* The same with a tail pointer as well, for lists that are appended to often and read from the
 * head (oldest first): O(1) both ways. */
#define LIST_APPEND_TAIL(name, head, tail, item)                        \
        do {                                                            \
                typeof(item) _item = (item);                            \
                _item->name##_next = NULL;                              \
                _item->name##_prev = (tail);                            \
                if (_item->name##_prev)                                 \
                        _item->name##_prev->name##_next = _item;        \
                else                                                    \
                        (head) = _item;                                 \
                (tail) = _item;                                         \
        } while (0)

#define LIST_REMOVE_TAIL(name, head, tail, item)                        \
        do {                                                            \
                typeof(item) _item = (item);                            \
                if (_item->name##_prev)                                 \
                        _item->name##_prev->name##_next = _item->name##_next; \
                else                                                    \
                        (head) = _item->name##_next;                    \
                if (_item->name##_next)                                 \
                        _item->name##_next->name##_prev = _item->name##_prev; \
                else                                                    \
                        (tail) = _item->name##_prev;                    \
                _item->name##_prev = _item->name##_next = NULL;         \
        } while (0)
