import { useEffect, useState } from 'preact/hooks';

/**
 * History routing under /ui/: the page is the first segment after /ui/, everything else is in the query (mount paths
 * and secret paths have slashes of their own, so they are never path segments here). The gateway answers any
 * /ui/... path with index.html, so a reload or a shared link lands on the same page.
 */
export const BASE = '/ui/';

export interface Route {
  page: string;
  params: URLSearchParams;
}

function current(): Route {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
  return { page: path.split('/')[0] || '', params: new URLSearchParams(location.search) };
}

const listeners = new Set<() => void>();

export function href(page: string, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  const qs = q.toString();
  return `${BASE}${page}${qs ? `?${qs}` : ''}`;
}

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const fn of listeners) fn();
  // Keyboard and screen-reader users land on the new page's heading, not on the link they left.
  queueMicrotask(() => document.querySelector<HTMLElement>('main h1')?.focus());
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** A click on an in-app link changes the route without a reload; a modified click opens a new tab as usual. */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.target as HTMLElement).closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE) || a.hasAttribute('download') || a.target) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}
