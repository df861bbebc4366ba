import adapter from '@sveltejs/adapter-node';
import { sveltekit } from '@sveltejs/kit/vite';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [
    tailwindcss(),
    sveltekit({
      adapter: adapter({ out: 'build' }),
      // A strict policy: scripts only from our origin plus the nonce SvelteKit puts on its own
      // inline bootstrap; no eval, no third-party hosts. The socket and the API are same-origin.
      csp: {
        mode: 'nonce',
        directives: {
          'default-src': ['self'],
          'script-src': ['self'],
          'style-src': ['self'],
          // Progress bars set their width in a style attribute; attributes cannot run code.
          'style-src-attr': ['unsafe-inline'],
          'img-src': ['self', 'data:', 'https:'],
          'connect-src': ['self'],
          'font-src': ['self'],
          'object-src': ['none'],
          'base-uri': ['self'],
          'form-action': ['self'],
          'frame-ancestors': ['none'],
        },
      },
    }),
  ],
});
