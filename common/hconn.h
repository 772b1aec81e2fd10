/*
 * hconn: the server side of HTTP/1.x connections, shared by the proxy
 * workers (workers/proxy/proxy.c) and the demo order listener
 * (workers/demo/listener.c).
 *
 * A struct hserver accepts on one listening socket (a batch per wakeup;
 * paused at max_connections and when descriptors or memory run out) and
 * owns its connections.  A struct hconn reads requests in order:
 * keep-alive, pipelining, Content-Length and chunked bodies, 100-continue,
 * the limits (max_header: 414/431 from the parser, max_body: the owner's
 * hconn_body_too_large) and the timeouts (idle, head from its first byte,
 * body: 408).  What a request gets is the owner's, through struct
 * hserver_ops: head() routes a parsed head (and may answer at once), body()
 * takes its body bytes (decoded when chunked), request() says it was read
 * whole.  The answer may come then or later (hconn_respond, then
 * hconn_resume); meanwhile the connection reads no further request.  A
 * connection stops reading while its output backs up, and its final
 * answer ends in a lingering close (half-close, drain input, close).
 *
 * Ownership: the server allocates each connection with the owner's size
 * (struct hconn first) and frees it in hconn_close, its only exit; the
 * owner's closing() hook runs first.  Every connection goes before the
 * server (hserver_close_all).
 */
#ifndef OLB_HCONN_H
#define OLB_HCONN_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "common/ev.h"
#include "common/http.h"

#define HCONN_OUT_HIGH		(64 * 1024)	/* stop reading above this */
#define HCONN_OUT_KEEP		(64 * 1024)	/* larger buffers go once written */
#define HCONN_LINGER_MS		2000
#define HCONN_ACCEPT_RETRY_MS	100
#define HCONN_ACCEPT_BATCH	64

struct hconn;
struct hserver;

enum hconn_state {
	HCONN_HEAD,		/* waiting for (more of) a request head */
	HCONN_BODY,		/* reading a request body */
	HCONN_WAIT,		/* request read; its answer is being prepared */
	HCONN_LINGER,		/* final answer sent: draining input, then close */
};

struct hserver_ops {
	/* A request head was parsed: route it.  May answer at once
	 * (hconn_error: the connection reads nothing more); otherwise the
	 * body follows through body() and its end through request(). */
	void	(*head)(struct hconn *c, const struct http_request *req);
	/* Body bytes, in order.  0, or -1 after an error answer. */
	int	(*body)(struct hconn *c, const char *data, size_t len);
	/* The request was read whole: answer it now or later, then
	 * hconn_resume. */
	void	(*request)(struct hconn *c);
	/* Every answer hconn_respond queued (also the server's own errors),
	 * with the bytes it queued; may be NULL. */
	void	(*answered)(struct hconn *c, int status, size_t bytes);
	/* c is about to be freed: drop what refers to it; may be NULL. */
	void	(*closing)(struct hconn *c);
	/* A connection was freed (not during hserver_close_all); may be
	 * NULL. */
	void	(*closed)(struct hserver *s);
};

struct hserver_limits {
	size_t		 conn_size;	/* the owner's struct, struct hconn first */
	size_t		 max_header;	/* also each connection's input buffer */
	uint64_t	 max_body;	/* of a chunked body (413) */
	size_t		 max_connections;	/* 0: no limit */
	uint64_t	 idle_timeout_ms;	/* 0: none */
	uint64_t	 header_timeout_ms;	/* 0: none */
	uint64_t	 body_timeout_ms;	/* 0: none */
	int		 finish_on_eof;	/* a peer that half-closes gets the
					   answers to what it sent */
};

struct hconn {
	int			 fd;
	enum hconn_state	 state;
	struct hserver		*srv;
	char			*in;		/* owned; in_cap bytes */
	size_t			 in_len, in_cap;
	char			*out;		/* owned; pending output */
	size_t			 out_len, out_off, out_cap;
	int			 keep_alive;	/* of the request being served */
	int			 minor;		/* its HTTP/1.<minor> */
	int			 head_only;	/* HEAD */
	int			 close_after;	/* close once out is written */
	int			 shut;		/* written out and half-closed */
	int			 peer_eof;	/* finish_on_eof: nothing more comes */
	uint64_t		 body_left;	/* HCONN_BODY with Content-Length */
	int			 chunked;
	struct http_chunked	 chunk;
	int			 head_started;	/* bytes of the next head arrived */
	int			 processing;	/* inside hconn_process */
	char			 peer[48];	/* the client's address */
	struct ev_timer		 timer;
	LIST_ENTRY(hconn)	 entry;
};

struct hserver {
	struct ev_loop		*loop;
	const struct hserver_ops *ops;
	struct hserver_limits	 lim;
	void			*owner;
	int			 listen_fd;	/* borrowed; -1 once drained */
	int			 accepting;
	int			 draining;	/* answers close their connection */
	int			 closing_all;
	uint64_t		 accept_failures;	/* in a row: EMFILE... */
	size_t			 nconns;
	LIST_HEAD(, hconn)	 conns;
	struct ev_timer		 accept_timer;
};

/* Set s up on loop for listen_fd (not accepting yet).  0 or -1. */
int		 hserver_init(struct hserver *s, struct ev_loop *loop,
		    int listen_fd, const struct hserver_ops *ops,
		    const struct hserver_limits *lim, void *owner);
/* Accept (again).  Does nothing while draining. */
void		 hserver_accept_resume(struct hserver *s);
/* Stop accepting; retry_ms > 0: resume after that long. */
void		 hserver_accept_pause(struct hserver *s, uint64_t retry_ms);
/* Stop accepting for good and close the listening socket; every answer
 * from now on closes its connection. */
void		 hserver_drain(struct hserver *s);
/* Close every connection (no closed() calls). */
void		 hserver_close_all(struct hserver *s);

/* Queue a complete answer: status line, Content-Type: application/json,
 * headers (lines ending in CRLF, or ""), Content-Length, Connection, and
 * body unless HEAD (none for 204 and 304).  The connection closes after it
 * unless the request asked for keep-alive and the server is not draining.
 * The bytes queued. */
size_t		 hconn_respond(struct hconn *c, int status, const char *headers,
		    const char *body, size_t len);
/* The same with another Content-Type (at most 100 bytes). */
size_t		 hconn_respond_type(struct hconn *c, int status, const char *type,
		    const char *headers, const char *body, size_t len);
/* Answer a request error with its JSON body and read no more requests. */
void		 hconn_error(struct hconn *c, int status);
/* 1 if the request's Content-Length is over max (the owner then answers
 * 413 with hconn_error), else 0. */
int		 hconn_body_too_large(const struct http_request *req,
		    uint64_t max);
/* Decide whether the connection closes after the current answer.  1 or
 * 0. */
int		 hconn_closes_after(struct hconn *c);
/* The end of an answer's head, after its own fields: Content-Length len
 * (none when bodiless), the Connection field the client needs (close, or
 * keep-alive for an HTTP/1.0 client that keeps it) and the blank line, at
 * out[HCONN_FRAMING_MAX].  Decides hconn_closes_after.  Its length. */
#define HCONN_FRAMING_MAX	64
size_t		 hconn_framing(struct hconn *c, size_t len, int bodiless,
		    char *out);
/* Queue raw answer bytes.  0 or -1 (out of memory: the connection then
 * closes after what is queued). */
int		 hconn_out_append(struct hconn *c, const char *data, size_t n);
/* The answer of the request in HCONN_WAIT was queued: write it and go on
 * with the next request.  May close c. */
void		 hconn_resume(struct hconn *c);
/* End c now (hconn_close's is the only way a connection ends). */
void		 hconn_close(struct hconn *c);

#endif
