# samples/local.mk - build rules of one part; appends to the variables of Makefile.am.

# --- samples/: gss-sample peers (issue 5) -------------------------------------
# The server's acceptor runs in sectxd (pam.sock), so it links only the
# libc-only client and codec; the client initiates in-process with the
# context library.

bin_PROGRAMS += sectx-sample-server sectx-sample-client
sectx_sample_server_SOURCES = samples/sectx-sample-server.c \
	samples/sample_token.c samples/sample_token.h
sectx_sample_server_LDADD = libsectx_base.la

sectx_sample_client_SOURCES = samples/sectx-sample-client.c \
	samples/sample_token.c samples/sample_token.h
sectx_sample_client_CFLAGS = $(AM_CFLAGS) $(TALLOC_CFLAGS) $(GSSAPI_CFLAGS)
sectx_sample_client_LDADD = libsectx_gss.la libsectx_base.la $(GSSAPI_LIBS) $(TALLOC_LIBS)

EXTRA_DIST += tests/integration/test_samples.py
