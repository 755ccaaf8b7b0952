import { Page } from '../ui';
import { MountsManager } from './secrets';

/** Auth methods are mounts of the auth table: the same list, enable, tune and disable as secrets engines. */
export function AuthMethodsPage() {
  return (
    <Page title="Auth methods">
      <MountsManager table="auth" />
    </Page>
  );
}
