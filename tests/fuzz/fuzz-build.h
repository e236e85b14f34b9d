/* fuzz-build.h - the defines configure would put in sectx-build.h. */
#define PACKAGE_VERSION		 "fuzz"
#define SECTX_DEFAULT_SOCKET_DIR "/run/sectx"
#define SECTX_DEFAULT_STATE_DIR	 "/var/lib/sectx"
#define SECTX_DEFAULT_CONFIG	 "/etc/sectx/sectx.conf"
