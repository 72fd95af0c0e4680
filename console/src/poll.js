// What every page does with the server: load now, then again every `ms`, keeping the last
// answer (and the last failure, for a page that never got one).
import { useEffect, useState } from "preact/hooks";

export function usePolled(fetcher, ms, deps, onError) {
  const [data, setData] = useState(null);
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        const next = await fetcher();
        if (live) setData(next);
      } catch (e) {
        onError(e);
        if (live) setFailure(e.message);
      }
    };
    load();
    const timer = setInterval(load, ms);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, deps);
  return [data, failure];
}
