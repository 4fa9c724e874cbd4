/* SPDX-License-Identifier: MIT */
#pragma once

/* Intrusive doubly linked lists with a head and a tail pointer: an item of list NAME has
 * the fields NAME_prev and NAME_next. Items are appended at the tail, so that the head is
 * the oldest. */

#define LIST_APPEND(name, head, tail, item)                                     \
        do {                                                                    \
                __typeof__(item) _item_ = (item);                               \
                _item_->name##_next = NULL;                                     \
                _item_->name##_prev = (tail);                                   \
                if (_item_->name##_prev)                                        \
                        _item_->name##_prev->name##_next = _item_;              \
                else                                                            \
                        (head) = _item_;                                        \
                (tail) = _item_;                                                \
        } while (0)

#define LIST_REMOVE(name, head, tail, item)                                     \
        do {                                                                    \
                __typeof__(item) _item_ = (item);                               \
                if (_item_->name##_prev)                                        \
                        _item_->name##_prev->name##_next = _item_->name##_next; \
                else                                                            \
                        (head) = _item_->name##_next;                           \
                if (_item_->name##_next)                                        \
                        _item_->name##_next->name##_prev = _item_->name##_prev; \
                else                                                            \
                        (tail) = _item_->name##_prev;                           \
                _item_->name##_prev = _item_->name##_next = NULL;               \
        } while (0)
