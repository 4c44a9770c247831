'use strict';
// Catalogue pickers (mktops/admin_catalogue.py): Django's select2, fed by an endpoint scoped to
// one tenant. On an add form the tenant is the form's tenant select, so choosing another tenant
// clears what was picked from the first one's catalogue.
{
    const $ = django.jQuery;

    function tenantOf(element) {
        const select = document.getElementById('id_tenant');
        return select && select.tagName === 'SELECT' ? select.value : element.dataset.tenant;
    }

    $(function() {
        $('.catalogue-autocomplete').each(function(i, element) {
            $(element).select2({
                ajax: {data: (params) => ({term: params.term, page: params.page, tenant: tenantOf(element)})}
            });
        });
        $('select#id_tenant').on('change', function() {
            $('.catalogue-autocomplete').val(null).trigger('change');
        });
    });
}
