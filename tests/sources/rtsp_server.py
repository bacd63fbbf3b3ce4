"""A small RTSP server for tests, on Debian's GStreamer RTSP server.

Runs under the SYSTEM python (``/usr/bin/python3``, which has ``gi``), not the project venv:

    /usr/bin/python3 tests/sources/rtsp_server.py --port 8554 [--path /cam]
        [--user U --password P] [--file clip.mp4] [--width 320 --height 240 --fps 25]
        [--corruptible]

Serves H.264 over RTSP: a live test pattern by default, or the given file decoded and
re-encoded (played once in real time).  With ``--user``/``--password`` clients need basic
auth.  With ``--corruptible`` SIGUSR1 turns the H.264 data into random bytes (the RTP packets
keep flowing, nothing decodes: a camera or recorder gone bad after a good start) and SIGUSR2
turns it back.  Prints ``READY rtsp://127.0.0.1:PORT/PATH`` on stdout once it listens; ends on
SIGTERM/SIGINT.  Needs python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer base, good,
bad, ugly and libav plugins (see .ci/install-system-deps.sh).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_string(args: argparse.Namespace) -> str:
    caps = f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
    if args.file:
        src = (
            f'filesrc location="{args.file}" ! decodebin ! videoconvert ! videoscale ! '
            f"videorate ! {caps},format=I420"
        )
    else:
        src = f"videotestsrc is-live=true pattern=ball ! {caps},format=I420"
    enc = (
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
        "bitrate=500 ! video/x-h264,profile=constrained-baseline"
    )
    # breakmydata with probability 0 passes the data untouched; --corruptible switches it.
    corrupt = (
        f"breakmydata name={CORRUPTER} probability=0.0 ! "
        if getattr(args, "corruptible", False)
        else ""
    )
    return f"( {src} ! {enc} ! {corrupt}rtph264pay name=pay0 pt=96 config-interval=1 )"


CORRUPTER = "corrupter"


def corruptible(factory: GstRtspServer.RTSPMediaFactory) -> None:
    """SIGUSR1: every byte of the H.264 data becomes random; SIGUSR2: clean again.  The
    setting holds for media made later too (a client that reconnects gets garbage still)."""
    medias: list[GstRtspServer.RTSPMedia] = []
    now = {"probability": 0.0}

    def apply(media: GstRtspServer.RTSPMedia) -> None:
        element = media.get_element().get_by_name(CORRUPTER)
        if element is not None:
            element.set_property("probability", now["probability"])

    def configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        medias.append(media)
        apply(media)

    def switch(probability: float) -> bool:
        now["probability"] = probability
        for media in medias:
            apply(media)
        return True  # keep the signal handler

    factory.connect("media-configure", configure)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, switch, 1.0)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, switch, 0.0)


def build(args: argparse.Namespace) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_string(args))
    factory.set_shared(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
        factory.set_permissions(permissions)
    if args.corruptible:
        corruptible(factory)
    server.get_mount_points().add_factory(args.path, factory)
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--file", default="")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--corruptible", action="store_true")
    args = parser.parse_args()

    Gst.init(None)
    return serve(build(args), args.port, args.path)


def serve(server: GstRtspServer.RTSPServer, port: int, path: str) -> int:
    """Attach ``server``, say READY on stdout (the tests wait for it) and run until SIGTERM."""
    if server.attach(None) == 0:
        print(f"could not listen on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{port}{path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
