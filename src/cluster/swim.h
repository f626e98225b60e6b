/*
 * swim: the SWIM membership state machine (Das, Gupta, Motivala 2002) with
 * two of Lifeguard's refinements (Dadgar et al. 2018): a suspicion timeout
 * that starts high and falls as independent confirmations arrive, and
 * local health awareness (a node that misses its own deadlines stretches
 * its probe timeout instead of accusing healthy members).
 *
 * Suspicion timeout, with n live members and the period I:
 *   min = alpha * log10(n) * I,  max = beta * min,
 *   timeout(C) = max - (max - min) * log(C + 1) / log(k + 1), at least min,
 * where C counts independent confirmations (members that could not reach
 * the suspect either; k are expected). A suspicion that rests on timeouts
 * alone never ends before suspicion_min_ms: a paused or overloaded process
 * must have time to answer, and Lifeguard's min is not enough for that at
 * a short period. Hard evidence that the suspect's process is gone (a TCP
 * connection to its port refused: nothing listens there, which a paused
 * process's port never does) is worth more than any number of timeouts:
 * the suspect is dead evidence_ms (one period) after it, whatever n.
 *
 * Pure: no I/O, no locks, no clock. The caller passes the time (a monotonic
 * millisecond count) into every call, sends the messages swim asks for, and
 * feeds back what arrives; randomness comes from the seed given to
 * swim_new(). One thread at a time (the caller serialises).
 *
 * Members are identified by id and carry an incarnation number that only
 * their owner raises (to refute a suspicion, or on restart: the caller
 * starts a node at a higher incarnation than it can have had before, e.g.
 * the wall clock in milliseconds). Precedence of updates about a member
 * whose current incarnation is i:
 *   alive(j)   wins over alive or suspect when j > i, over dead or left when
 *              j > i (a restart);
 *   suspect(j) wins over alive when j >= i, over suspect when j > i;
 *   dead(j)    wins over alive or suspect when j >= i;
 *   left(j)    wins over anything but left when j >= i.
 * A suspect, dead or left update about this node with j >= our incarnation
 * is refuted: we take j + 1 and announce ourselves alive.
 *
 * Every change is queued for dissemination: piggybacked on the next
 * outgoing messages, each change about RETRANSMIT times
 * (retransmit_mult * ceil(log10(n + 1))), fewest-sent first.
 */
#ifndef MESHCACHED_SWIM_H
#define MESHCACHED_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gmsg.h"

struct swim;

#define SWIM_MAX_CONFIRM 8 /* confirmations a suspicion remembers */

struct swim_config {
    uint32_t interval_ms;        /* protocol period */
    uint32_t probe_timeout_ms;   /* direct probe deadline, before health scaling */
    unsigned indirect_k;         /* members asked to probe indirectly */
    unsigned suspicion_mult;     /* alpha: min = alpha * log10(n) * interval */
    unsigned suspicion_max_mult; /* beta: max = beta * min */
    unsigned suspicion_k;        /* confirmations expected (<= SWIM_MAX_CONFIRM) */
    uint32_t suspicion_min_ms;   /* floor of a suspicion without hard evidence */
    uint32_t evidence_ms;        /* a suspicion on hard evidence ends this late */
    unsigned retransmit_mult;    /* lambda */
    uint32_t dead_keep_ms;       /* dead and left members are forgotten after */
    unsigned health_max;         /* cap of the local health multiplier */
};

/* Fills c with the defaults for a protocol period of interval_ms. */
void swim_config_defaults(struct swim_config *c, uint32_t interval_ms);

/* Called for every change of a member's state, incarnation or addresses
 * (this node included), after the change; old_state is 0 for a member just
 * learned of. Must not call back into swim. */
typedef void (*swim_change_fn)(void *arg, const struct gmsg_member *m, int old_state);

/*
 * Creates the state machine for this node (self: id, incarnation,
 * addresses; its state is taken as alive). Returns 0, -EINVAL for an
 * invalid self, or -ENOMEM.
 */
int swim_new(const struct swim_config *cfg, const struct gmsg_member *self, uint64_t seed,
             swim_change_fn changed, void *arg, struct swim **out);
void swim_free(struct swim *s);

/* This node's own record (its incarnation may have risen). */
const struct gmsg_member *swim_self(const struct swim *s);

/* Members known, this node included (dead and left ones until forgotten). */
size_t swim_count(const struct swim *s);
const struct gmsg_member *swim_member(const struct swim *s, size_t i);
/* Finds a member by id, or NULL. */
const struct gmsg_member *swim_find(const struct swim *s, const char *id);
/* Alive and suspect members, this node included. */
size_t swim_live_count(const struct swim *s);

/*
 * Applies an update heard from the network (a piggybacked record, the
 * sender's own record, an entry of a SYNC list) by the precedence rules
 * above. Returns true when it changed the view.
 */
bool swim_apply(struct swim *s, const struct gmsg_member *u, uint64_t now);

/* ---- failure detection: one probe per protocol period ---- */

/* Chooses this period's target: the next member in a shuffled round-robin
 * over the live members other than this node (reshuffled after each round).
 * Returns false when there is none. */
bool swim_probe_start(struct swim *s, uint64_t now, struct gmsg_member *target);

/* Up to max live members other than this node and the target, chosen at
 * random, to ask for an indirect probe. Returns how many. */
size_t swim_probe_helpers(struct swim *s, const char *target_id, struct gmsg_member *out,
                          size_t max);

/* The target answered (directly or through a helper). */
void swim_probe_acked(struct swim *s, const char *target_id, uint64_t now);

/* How many helpers to ask (indirect_k). */
unsigned swim_indirect_k(const struct swim *s);

/* The period ended and nobody got an answer from the target: it becomes
 * suspect (at the incarnation we know), unless something newer arrived. */
void swim_probe_failed(struct swim *s, const char *target_id, uint64_t now);

/* A helper answered NACK (it could not reach the target either) or did not
 * answer at all: the evidence Lifeguard uses for local health. */
void swim_helper_result(struct swim *s, bool answered);

/* Turns suspects whose timeout passed into dead members and forgets dead
 * and left members older than dead_keep_ms. Call at least every period. */
void swim_tick(struct swim *s, uint64_t now);

/* The current suspicion timeout for a member suspected now, with no
 * confirmation and no hard evidence, in ms. */
uint32_t swim_suspicion_ms(const struct swim *s);

/* The suspicion timeout (see the top of this file) with confirmations
 * independent confirmations, or with hard evidence, in ms. */
uint32_t swim_suspicion_timeout_ms(const struct swim *s, unsigned confirmations,
                                   bool hard);

/*
 * Member from could not reach target either (it answered our indirect
 * probe of target with a NACK, or from is this node, whose own probe of a
 * target already suspect failed): a confirmation of target's suspicion,
 * which brings its deadline closer. Each member counts once per suspicion,
 * and the one that raised it not at all. Returns true when it counted;
 * false when target is not suspect, or from was counted already.
 */
bool swim_confirm(struct swim *s, const char *target_id, const char *from_id,
                  uint64_t now);

/*
 * Hard evidence that target's process at incarnation inc is gone (a TCP
 * connection to its port was refused). An alive target becomes suspect
 * now; either way it becomes dead evidence_ms after now (or sooner if it
 * was already due). Ignored for this node, an unknown, dead
 * or left member, or another incarnation. Returns true when it changed the
 * member's state or deadline.
 */
bool swim_evidence(struct swim *s, const char *target_id, uint64_t inc, uint64_t now);

/* When the suspect with this id becomes dead, or 0 when it is not suspect. */
uint64_t swim_deadline(const struct swim *s, const char *id);

/* The earliest deadline of any suspect (when swim_tick() next has work),
 * or UINT64_MAX when nobody is suspect. */
uint64_t swim_next_deadline(const struct swim *s);

/* The direct probe timeout and the period, stretched by local health. */
uint32_t swim_probe_timeout_ms(const struct swim *s);
uint32_t swim_interval_ms(const struct swim *s);
unsigned swim_health(const struct swim *s);

/* ---- dissemination ---- */

/* Adds queued updates to a message being written (as many as fit), each
 * counting as one transmission. */
void swim_piggyback(struct swim *s, struct gmsg_writer *w);

/* Adds every known member (this node first) to a SYNC or SYNC_ACK. */
void swim_fill_all(const struct swim *s, struct gmsg_writer *w);

/* A random member other than this node to push/pull with: alive or
 * suspect, or dead or left when dead_ok and one is known (a healed
 * partition's other side). Returns false when there is none. */
bool swim_pick_sync(struct swim *s, bool dead_ok, struct gmsg_member *out);

/* This node leaves: its state becomes left at a higher incarnation, queued
 * for dissemination. */
void swim_leave(struct swim *s);

#endif
