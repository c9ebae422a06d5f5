<domainsnapshot><name>before-upgrade</name><state>running</state><memory snapshot='internal'/></domainsnapshot>
