// The phone's durable outbox of observations: written before any send, removed only once the
// server has stored the observation (or the user has read why it was refused). IndexedDB holds
// it because a photo of up to 5 MB does not fit in localStorage; where IndexedDB is unavailable
// (some private modes) localStorage is the fallback, good for reports without large photos.

const DB_NAME = "riskcontrol";
const STORE = "observation_outbox";
const FALLBACK_KEY = "riskcontrol.observation_outbox";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase() {
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "client_id" });
  return request(req);
}

class IndexedOutbox {
  constructor(db) {
    this.db = db;
  }

  async all() {
    return request(this.db.transaction(STORE, "readonly").objectStore(STORE).getAll());
  }

  // Resolves only when the transaction has committed, so "saved" on screen means saved on disk.
  write(change) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, "readwrite");
      change(tx.objectStore(STORE));
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  put(entry) {
    return this.write((store) => store.put(entry));
  }

  remove(clientId) {
    return this.write((store) => store.delete(clientId));
  }
}

class LocalOutbox {
  read() {
    try {
      return JSON.parse(localStorage.getItem(FALLBACK_KEY) || "{}");
    } catch {
      return {};
    }
  }

  async all() {
    return Object.values(this.read());
  }

  async put(entry) {
    const entries = this.read();
    entries[entry.client_id] = entry;
    localStorage.setItem(FALLBACK_KEY, JSON.stringify(entries)); // throws when full: the caller says so
  }

  async remove(clientId) {
    const entries = this.read();
    delete entries[clientId];
    localStorage.setItem(FALLBACK_KEY, JSON.stringify(entries));
  }
}

/** The outbox of this browser, scoped to one user: another person signing in on the phone never sends it. */
export async function openOutbox(userId) {
  let store;
  try {
    store = new IndexedOutbox(await openDatabase());
  } catch {
    store = new LocalOutbox();
  }
  return {
    async entries() {
      const all = await store.all();
      return all.filter((entry) => entry.user_id === userId).sort((a, b) => a.queued_at.localeCompare(b.queued_at));
    },
    put: (entry) => store.put({ ...entry, user_id: userId }),
    remove: (clientId) => store.remove(clientId),
  };
}
