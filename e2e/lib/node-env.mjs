// Node differs from a browser in one way that matters to a test process: an open
// BroadcastChannel keeps the event loop alive. clerk-js opens one when its module loads (its
// session-token cache shares tokens between tabs with it) and never closes it, so a test file
// that imports clerk-js would never exit. Channels made here are unref'd: they work as before
// but do not hold the process open. Import this module before @clerk/clerk-js.

const NodeBroadcastChannel = globalThis.BroadcastChannel;

if (NodeBroadcastChannel && !NodeBroadcastChannel.vestibuleUnref) {
  class UnrefBroadcastChannel extends NodeBroadcastChannel {
    static vestibuleUnref = true;

    constructor(name) {
      super(name);
      this.unref?.();
    }
  }
  globalThis.BroadcastChannel = UnrefBroadcastChannel;
}
